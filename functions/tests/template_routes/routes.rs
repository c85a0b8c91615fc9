//! The HTTP routes of the template against `keyward::http::routes()`, its
//! functions against the binaries in `functions/src/bin`, and which routes
//! the JWT authorizer guards.

use super::*;
use axum::http::Method;

/// The functions that no HTTP route names: the platform's authorizer, the
/// daily job, the table's stream consumer and the retry sweeper.
const EVENT_FUNCTIONS: [&str; 4] = [
    "authorizer",
    "notify-expiring",
    "deliver-events",
    "retry-deliveries",
];

/// `create-key` → `CreateKeyFunction`.
fn logical_id(binary: &str) -> String {
    let mut id: String = binary
        .split('-')
        .map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect();
    id.push_str("Function");
    id
}

/// One HTTP API event of a function.
struct HttpEvent {
    function: String,
    event: String,
    method: String,
    path: String,
    /// `Auth.Authorizer`, when the event names one.
    authorizer: Option<String>,
    api: Value,
}

fn http_events(template: &Value) -> Vec<HttpEvent> {
    let mut events = Vec::new();
    for (binary, (id, resource)) in functions(template) {
        let Some(declared) = resource["Properties"]["Events"].as_object() else {
            continue;
        };
        for (event, declaration) in declared {
            if declaration["Type"] != "HttpApi" {
                continue;
            }
            let properties = &declaration["Properties"];
            let what = format!("{id}.Events.{event}");
            events.push(HttpEvent {
                function: binary.clone(),
                event: what.clone(),
                method: string(&properties["Method"], &format!("{what}.Method")).to_uppercase(),
                path: string(&properties["Path"], &format!("{what}.Path")).to_owned(),
                authorizer: properties["Auth"]["Authorizer"].as_str().map(str::to_owned),
                api: properties["ApiId"].clone(),
            });
        }
    }
    events
}

/// (method, path, function) of every route the template deploys.
type RouteKey = (String, String, String);

fn describe(set: &BTreeSet<&RouteKey>) -> String {
    set.iter()
        .map(|(m, p, f)| format!("\n  {m} {p} -> {f}"))
        .collect()
}

#[test]
fn http_events_are_the_route_table_without_healthz() {
    let template = template();
    let mut deployed: BTreeSet<RouteKey> = BTreeSet::new();
    for event in http_events(&template) {
        assert_eq!(
            event.api,
            json!({"Ref": "Api"}),
            "{TEMPLATE}: {} must attach to the keyward HTTP API (ApiId: !Ref Api), \
             not an implicit one",
            event.event
        );
        let key = (event.method, event.path, event.function);
        assert!(
            deployed.insert(key.clone()),
            "{TEMPLATE}: route {} {} is declared twice",
            key.0,
            key.1
        );
    }
    let routes = keyward::http::routes();
    // The local server's own routes: liveness and the document itself (in
    // AWS, infra/openapi.yaml is the document).
    let local_only = |r: &keyward::http::Route| {
        r.method == Method::GET && matches!(r.path, "/healthz" | "/openapi.json")
    };
    assert_eq!(
        routes.iter().filter(|r| local_only(r)).count(),
        2,
        "routes() no longer has GET /healthz and GET /openapi.json: update this test and infra/README.md"
    );
    let expected: BTreeSet<RouteKey> = routes
        .iter()
        .filter(|r| !local_only(r))
        .map(|r| {
            (
                r.method.as_str().to_owned(),
                r.path.to_owned(),
                r.function.to_owned(),
            )
        })
        .collect();
    let missing: BTreeSet<&RouteKey> = expected.difference(&deployed).collect();
    let unknown: BTreeSet<&RouteKey> = deployed.difference(&expected).collect();
    assert!(
        missing.is_empty() && unknown.is_empty(),
        "{TEMPLATE}'s HttpApi events differ from keyward::http::routes() (without GET /healthz).\
         \nIn routes() but not deployed:{}\nDeployed but not in routes():{}",
        describe(&missing),
        describe(&unknown)
    );
}

#[test]
fn every_binary_has_one_function_and_every_function_a_binary() {
    let template = template();
    let declared = functions(&template);
    let bin_dir = repo_root().join("functions/src/bin");
    let binaries: BTreeSet<String> = std::fs::read_dir(&bin_dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", bin_dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "rs"))
        .map(|path| {
            path.file_stem()
                .and_then(|s| s.to_str())
                .expect("a UTF-8 file name")
                .to_owned()
        })
        .collect();
    let in_template: BTreeSet<String> = declared.keys().cloned().collect();
    let no_function: Vec<&String> = binaries.difference(&in_template).collect();
    let no_binary: Vec<&String> = in_template.difference(&binaries).collect();
    assert!(
        no_function.is_empty() && no_binary.is_empty(),
        "functions/src/bin/*.rs and {TEMPLATE}'s functions differ.\
         \nBinaries without a function: {no_function:?}\
         \nFunctions without functions/src/bin/<name>.rs: {no_binary:?}"
    );

    // Every function a route names, plus the event-driven ones.
    let mut named: BTreeSet<String> = keyward::http::routes()
        .iter()
        .filter(|r| r.path != "/healthz" && r.path != "/openapi.json")
        .map(|r| r.function.to_owned())
        .collect();
    named.extend(EVENT_FUNCTIONS.iter().map(|f| f.to_string()));
    assert_eq!(
        in_template, named,
        "{TEMPLATE}: the functions must be those of routes() plus {EVENT_FUNCTIONS:?}"
    );

    for (binary, (id, resource)) in &declared {
        assert_eq!(
            *id,
            logical_id(binary),
            "{TEMPLATE}: the function building {binary} must be called {}",
            logical_id(binary)
        );
        assert_eq!(
            resource["Properties"]["CodeUri"], "..",
            "{TEMPLATE}: {id}'s CodeUri must be the Cargo workspace root (..), where \
             cargo-lambda leaves target/lambda/{binary}/bootstrap"
        );
        for property in ["Runtime", "Handler", "Architectures"] {
            assert!(
                resource["Properties"].get(property).is_none(),
                "{TEMPLATE}: {id} overrides Globals.Function.{property}"
            );
        }
    }
    let globals = &template["Globals"]["Function"];
    assert_eq!(globals["Runtime"], "provided.al2023");
    assert_eq!(globals["Handler"], "bootstrap");
    assert_eq!(globals["Architectures"], json!(["arm64"]));
}

/// The routes API Gateway leaves open (`Auth: Authorizer: NONE`): key
/// verification, GitHub's secret scanning (GitHub signs each request, and
/// `report-github-leak` checks the signature) and open leak reports
/// (holding a key is the authority to report it). Every other route needs
/// a token.
const OPEN_ROUTES: [&str; 3] = [
    "POST /verify",
    "POST /secret-scanning/github",
    "POST /keys/leaked",
];

#[test]
fn only_the_open_routes_skip_the_jwt_authorizer() {
    let template = template();
    let api = &resources(&template)["Api"];
    assert_eq!(api["Type"], "AWS::Serverless::HttpApi");
    let auth = &api["Properties"]["Auth"];
    let default = string(&auth["DefaultAuthorizer"], "Api's Auth.DefaultAuthorizer");
    let jwt = &auth["Authorizers"][default];
    assert_eq!(
        jwt["IdentitySource"], "$request.header.Authorization",
        "{TEMPLATE}: the default authorizer {default} must read the Authorization header"
    );
    let config = object(
        &jwt["JwtConfiguration"],
        &format!("{default}.JwtConfiguration (the default authorizer must be a JWT authorizer)"),
    );
    assert_eq!(config["issuer"], json!({"Ref": "JwtIssuer"}));
    assert_eq!(config["audience"], json!([{"Ref": "JwtAudience"}]));

    let mut open = BTreeSet::new();
    for event in http_events(&template) {
        let route = format!("{} {}", event.method, event.path);
        match event.authorizer.as_deref() {
            Some("NONE") => {
                open.insert(route);
            }
            None => {}
            Some(name) => assert_eq!(
                name, default,
                "{TEMPLATE}: {route} ({}) must use the JWT authorizer {default}",
                event.event
            ),
        }
    }
    let expected: BTreeSet<String> = OPEN_ROUTES.iter().map(|r| r.to_string()).collect();
    assert_eq!(
        open, expected,
        "{TEMPLATE}: exactly {OPEN_ROUTES:?} skip the JWT authorizer (Auth: Authorizer: \
         NONE); every management route needs a token"
    );
    // Each open route is one the router has.
    for open in OPEN_ROUTES {
        assert!(
            keyward::http::routes()
                .iter()
                .any(|r| format!("{} {}", r.method, r.path) == open),
            "routes() no longer has {open}: update OPEN_ROUTES and {TEMPLATE}"
        );
    }
}
