//! `keyward completions bash|zsh|fish`: scripts made from the command
//! definitions, management commands included.

use crate::harness::Cli;

#[test]
fn completion_scripts_name_keyward_and_its_commands() {
    // No server: completions never call the API.
    let cli = Cli::new("http://127.0.0.1:1", None);
    let bash = cli.ok(&["completions", "bash"]);
    assert!(bash.contains("_keyward()"), "{bash}");
    assert!(bash.contains("complete -F _keyward"), "{bash}");
    for command in [
        "apps",
        "keys",
        "verify",
        "webhooks",
        "regenerate",
        "--idempotency-key",
        "serve",
    ] {
        assert!(bash.contains(command), "bash completes {command}");
    }
    let zsh = cli.ok(&["completions", "zsh"]);
    assert!(zsh.starts_with("#compdef keyward"), "{zsh}");
    let fish = cli.ok(&["completions", "fish"]);
    assert!(fish.contains("complete -c keyward"), "{fish}");
    assert!(fish.contains("regenerate"));
}
