//! `zap inspect` and `zap demo --step wire`, run as a user runs them.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn zap(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_zap"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("zap starts");
    let mut input = child.stdin.take().expect("stdin");
    input
        .write_all(stdin.unwrap_or("").as_bytes())
        .expect("write stdin");
    drop(input);
    child.wait_with_output().expect("zap runs")
}

fn json_lines(out: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect()
}

const GO_VECTOR: &str = "5a41500001000000200000004900000064000000c80000002c010000000000002a0000000000000018000000050000001500000004000000d8ffffff0300000068656c6c6fdeadbeef";
const CALL_FRAME: &str = "2000000001000000010000005a4150000100004210000000180000000700000000000000";

#[test]
fn a_valid_message_argument_reports_its_header() {
    let out = zap(&["inspect", "--json", GO_VECTOR], None);
    assert!(out.status.success(), "{out:?}");
    let v = &json_lines(&out)[0];
    assert_eq!(v["ok"], true);
    assert_eq!(v["error"], serde_json::Value::Null);
    assert_eq!(v["version"], 1);
    assert_eq!(v["flags"], 0);
    assert_eq!(v["msg_type"], 0);
    assert_eq!(v["root"], 32);
    assert_eq!(v["size"], 73);
}

#[test]
fn an_invalid_argument_exits_1_with_the_reason() {
    let out = zap(&["inspect", "--json", GO_VECTOR, "5a41"], None);
    assert_eq!(out.status.code(), Some(1));
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["ok"], true);
    assert_eq!(lines[1]["ok"], false);
    assert!(lines[1]["error"].as_str().unwrap().contains("truncated"));
}

#[test]
fn frames_report_kind_and_request_id() {
    let out = zap(&["inspect", "--frame", "--json", CALL_FRAME], None);
    assert!(out.status.success(), "{out:?}");
    let v = &json_lines(&out)[0];
    assert_eq!(v["kind"], "request");
    assert_eq!(v["request_id"], 1);
    assert_eq!(v["msg_type"], 0x42);
}

#[test]
fn standard_input_is_read_to_the_end_and_exits_0() {
    let input = format!("{CALL_FRAME}\nnot hex at all\n\n00000000\n{CALL_FRAME}00\n");
    let out = zap(&["inspect", "--frame", "--json"], Some(&input));
    assert!(out.status.success(), "{out:?}");
    let lines = json_lines(&out);
    assert_eq!(
        lines.len(),
        4,
        "blank lines are skipped, every other line reported"
    );
    assert_eq!(lines[0]["ok"], true);
    assert_eq!(lines[1]["ok"], false);
    assert_eq!(lines[2]["ok"], false, "an empty frame is not a message");
    assert_eq!(
        lines[3]["ok"], false,
        "a trailing byte after the frame is reported"
    );
}

#[test]
fn garbage_on_standard_input_never_crashes() {
    let mut input = String::new();
    for i in 0..200u32 {
        let bytes: Vec<u8> = (0..(i % 97)).map(|j| (i * 31 + j * 7) as u8).collect();
        input.push_str(&hex::encode(bytes));
        input.push('\n');
    }
    for mode in [&["inspect"][..], &["inspect", "--frame"][..]] {
        let out = zap(mode, Some(&input));
        assert!(out.status.success(), "{mode:?}: {out:?}");
        assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
    }
}

#[test]
fn bad_usage_exits_2() {
    assert_eq!(
        zap(&["inspect", "--no-such-flag"], None).status.code(),
        Some(2)
    );
    assert_eq!(zap(&["no-such-command"], None).status.code(), Some(2));
}

#[test]
fn the_demo_wire_step_works_and_reports_json() {
    let out = zap(&["demo", "--step", "wire", "--json"], None);
    assert!(out.status.success(), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(v["ok"], true);
    let steps = v["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 1);
    assert_eq!(steps[0]["name"], "wire");
    assert_eq!(steps[0]["ok"], true);
    assert!(steps[0]["ms"].as_f64().unwrap() >= 0.0);
    assert!(
        steps[0]["detail"]
            .as_str()
            .unwrap()
            .contains("fields intact")
    );
}

#[test]
fn an_unknown_demo_step_is_an_explained_error() {
    let out = zap(&["demo", "--step", "nope"], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no demo step is called `nope`"));
}
