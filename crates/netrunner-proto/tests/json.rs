//! With the `serde` feature, message types serialize with the field names the `zap`
//! command's `--json` output promises.

use netrunner_proto::{ClusterInfo, NodeInfo, StatusEvent};

#[test]
fn cluster_info_serializes_with_snake_case_keys() {
    let info = ClusterInfo {
        node_names: vec!["node1".into()],
        node_infos: vec![NodeInfo {
            name: "node1".into(),
            paused: true,
            ..NodeInfo::default()
        }],
        pid: 42,
        healthy: true,
        network_id: 1337,
        ..ClusterInfo::default()
    };
    let json = serde_json::to_value(&info).unwrap();
    assert_eq!(json["node_names"], serde_json::json!(["node1"]));
    assert_eq!(json["healthy"], serde_json::json!(true));
    assert_eq!(json["pid"], serde_json::json!(42));
    assert_eq!(json["network_id"], serde_json::json!(1337));
    assert_eq!(json["node_infos"][0]["paused"], serde_json::json!(true));
    let back: ClusterInfo = serde_json::from_value(json).unwrap();
    assert_eq!(back, info);

    let end = serde_json::to_string(&StatusEvent::End).unwrap();
    assert_eq!(end, "\"End\"");
}
