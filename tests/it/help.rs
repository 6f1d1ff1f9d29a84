//! The help text users learn the commands from.

use crate::common::TestContext;

#[test]
fn top_level_help() {
    let context = TestContext::new();
    insta::assert_snapshot!(context.snapshot(["--help"]));
}

#[test]
fn lock_help() {
    let context = TestContext::new();
    insta::assert_snapshot!(context.snapshot(["lock", "--help"]));
}

#[test]
fn add_help() {
    let context = TestContext::new();
    insta::assert_snapshot!(context.snapshot(["add", "--help"]));
}

#[test]
fn usage_errors_exit_2() {
    let context = TestContext::new();
    let output = context.run(["lock", "--upgrade", "--check"]);
    assert_eq!(output.status.code(), Some(2));
    let output = context.run(["frobnicate"]);
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn trust_help() {
    let context = TestContext::new();
    insta::assert_snapshot!(context.snapshot(["trust", "--help"]));
}
