//! The table of the template against the one `DynamoStore` expects and
//! makes.

use super::*;

/// The stream view deliver-events needs: the item as written.
const STREAM_VIEW: &str = "NEW_IMAGE";

/// (attribute name, key type or attribute type).
type KeyPair = (String, String);
/// (index name, key schema, projection type, projected non-key attributes).
type IndexShape = (String, Vec<KeyPair>, String, Vec<String>);

fn key_schema(value: &Value, what: &str) -> Vec<KeyPair> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("{TEMPLATE}: {what} is not a list"))
        .iter()
        .map(|k| {
            (
                string(&k["AttributeName"], what).to_owned(),
                string(&k["KeyType"], what).to_owned(),
            )
        })
        .collect()
}

fn pair(name: &str, kind: &str) -> KeyPair {
    (name.to_owned(), kind.to_owned())
}

#[test]
fn the_table_is_the_one_the_dynamodb_store_uses() {
    let template = template();
    let table = &resources(&template)["Table"];
    assert_eq!(table["Type"], "AWS::DynamoDB::Table");
    assert_eq!(table["DeletionPolicy"], "Retain");
    assert_eq!(table["UpdateReplacePolicy"], "Retain");
    let p = &table["Properties"];
    assert_eq!(p["BillingMode"], "PAY_PER_REQUEST");
    let attributes: BTreeSet<KeyPair> =
        key_schema_like(&p["AttributeDefinitions"], "AttributeType");
    let expected: BTreeSet<KeyPair> =
        [PARTITION_KEY, SORT_KEY, INDEX_PARTITION_KEY, INDEX_SORT_KEY]
            .iter()
            .map(|name| pair(name, "S"))
            .collect();
    assert_eq!(
        attributes, expected,
        "{TEMPLATE}: AttributeDefinitions must be the four string key attributes of dynamodb/layout.rs"
    );
    assert_eq!(
        key_schema(&p["KeySchema"], "Table.KeySchema"),
        [pair(PARTITION_KEY, "HASH"), pair(SORT_KEY, "RANGE")],
        "{TEMPLATE}: the table's key must be pk (HASH), sk (RANGE)"
    );
    let indexes = p["GlobalSecondaryIndexes"]
        .as_array()
        .expect("Table.GlobalSecondaryIndexes is a list");
    assert_eq!(indexes.len(), 1, "{TEMPLATE}: the store uses one GSI");
    let gsi = &indexes[0];
    assert_eq!(gsi["IndexName"], INDEX);
    assert_eq!(
        key_schema(&gsi["KeySchema"], "gsi1.KeySchema"),
        [
            pair(INDEX_PARTITION_KEY, "HASH"),
            pair(INDEX_SORT_KEY, "RANGE")
        ]
    );
    assert_eq!(
        gsi["Projection"],
        json!({"ProjectionType": "INCLUDE", "NonKeyAttributes": [INDEX_PROJECTED]}),
        "{TEMPLATE}: gsi1 must project the item's JSON body, which the store reads from it, \
         and nothing else (a last_used_at update must not write the index)"
    );
    assert_eq!(
        p["TimeToLiveSpecification"],
        json!({"AttributeName": TTL_ATTRIBUTE, "Enabled": true})
    );
    assert_eq!(
        p["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"],
        true
    );
    assert_eq!(p["DeletionProtectionEnabled"], true);
    assert_eq!(
        p["StreamSpecification"],
        json!({"StreamViewType": STREAM_VIEW}),
        "{TEMPLATE}: the table's stream feeds deliver-events, which reads each new audit \
         item's image (docs/ARCHITECTURE.md, \"Events out\")"
    );

    // The constants above are the store's: its source names them so.
    let source = include_str!("../../src/store/dynamodb/layout.rs");
    for needle in [
        format!("const GSI: &str = \"{INDEX}\""),
        format!("key(\"{PARTITION_KEY}\", KeyType::Hash)"),
        format!("key(\"{SORT_KEY}\", KeyType::Range)"),
        format!("key(\"{INDEX_PARTITION_KEY}\", KeyType::Hash)"),
        format!("key(\"{INDEX_SORT_KEY}\", KeyType::Range)"),
        format!(".attribute_name(\"{TTL_ATTRIBUTE}\")"),
        "ProjectionType::Include".to_owned(),
        ".stream_enabled(true)".to_owned(),
        ".stream_view_type(StreamViewType::NewImage)".to_owned(),
        format!(".non_key_attributes(\"{INDEX_PROJECTED}\")"),
    ] {
        assert!(
            source.contains(&needle),
            "functions/src/store/dynamodb/layout.rs no longer contains `{needle}`: \
             update {TEMPLATE}'s table and this test"
        );
    }
}

/// `[{AttributeName, <field>}]` as a set of pairs.
fn key_schema_like(value: &Value, field: &str) -> BTreeSet<KeyPair> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("{TEMPLATE}: a key list is not a list: {value}"))
        .iter()
        .map(|a| {
            (
                string(&a["AttributeName"], "AttributeName").to_owned(),
                string(&a[field], field).to_owned(),
            )
        })
        .collect()
}

/// With a DynamoDB-compatible server (tests/run.sh starts moto_server), the
/// table `DynamoStore::create_table` makes is described and compared with
/// the template's.
#[tokio::test]
async fn create_table_makes_the_template_table() {
    if !moto::available() {
        return;
    }
    let (client, table) = moto::table().await;
    let described = client
        .describe_table()
        .table_name(&table)
        .send()
        .await
        .expect("DescribeTable")
        .table
        .expect("a table description");
    let made_keys: Vec<KeyPair> = described
        .key_schema()
        .iter()
        .map(|k| pair(k.attribute_name(), k.key_type().as_str()))
        .collect();
    let made_attributes: BTreeSet<KeyPair> = described
        .attribute_definitions()
        .iter()
        .map(|a| pair(a.attribute_name(), a.attribute_type().as_str()))
        .collect();
    let made_indexes: Vec<IndexShape> = described
        .global_secondary_indexes()
        .iter()
        .map(|i| {
            (
                i.index_name().unwrap_or_default().to_owned(),
                i.key_schema()
                    .iter()
                    .map(|k| pair(k.attribute_name(), k.key_type().as_str()))
                    .collect(),
                i.projection()
                    .and_then(|p| p.projection_type())
                    .map(|t| t.as_str().to_owned())
                    .unwrap_or_default(),
                i.projection()
                    .map(|p| p.non_key_attributes().to_vec())
                    .unwrap_or_default(),
            )
        })
        .collect();
    let ttl = client
        .describe_time_to_live()
        .table_name(&table)
        .send()
        .await
        .expect("DescribeTimeToLive")
        .time_to_live_description
        .and_then(|d| d.attribute_name)
        .unwrap_or_default();

    let template = template();
    let p = &resources(&template)["Table"]["Properties"];
    assert_eq!(made_keys, key_schema(&p["KeySchema"], "Table.KeySchema"));
    assert_eq!(
        made_attributes,
        key_schema_like(&p["AttributeDefinitions"], "AttributeType")
    );
    let gsi = &p["GlobalSecondaryIndexes"][0];
    assert_eq!(
        made_indexes,
        [(
            string(&gsi["IndexName"], "IndexName").to_owned(),
            key_schema(&gsi["KeySchema"], "gsi1.KeySchema"),
            string(&gsi["Projection"]["ProjectionType"], "ProjectionType").to_owned(),
            gsi["Projection"]["NonKeyAttributes"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|a| string(a, "NonKeyAttributes").to_owned())
                .collect(),
        )],
        "DynamoStore::create_table and {TEMPLATE} make different indexes"
    );
    assert_eq!(ttl, p["TimeToLiveSpecification"]["AttributeName"]);
    let stream = described
        .stream_specification()
        .expect("DynamoStore::create_table makes a table with a stream");
    assert!(stream.stream_enabled());
    assert_eq!(
        stream.stream_view_type().map(|v| v.as_str()),
        Some(string(
            &p["StreamSpecification"]["StreamViewType"],
            "StreamViewType"
        )),
        "DynamoStore::create_table and {TEMPLATE} make different streams"
    );
}
