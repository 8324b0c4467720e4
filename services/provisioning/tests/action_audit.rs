//! AMI actions the ingestors executed reach the audit log: records published
//! on `prov.ami_action` are stored once (a redelivery adds nothing), in their
//! tenant only, with what the ingestor masked still masked.

use std::sync::Arc;
use std::time::Duration;

use ringside_ami_ingestor::actions::ActionAudit;
use ringside_bus::{Outgoing, TenantId, Token};
use ringside_provisioning::action_audit::AMI_ACTION;
use ringside_provisioning::{
    Actor, AuditFilter, DatabaseSettings, Page, Provisioning, ProvisioningSettings, Role,
};
use ringside_testkit::TestBus;
use tokio_util::sync::CancellationToken;

fn audit(tenant: &str, action: &str) -> ActionAudit {
    ActionAudit {
        tenant: tenant.into(),
        pbx: "pbx-1".into(),
        requested_by: "op@acme".into(),
        action: action.into(),
        headers: vec![
            ("Action".into(), action.into()),
            ("Secret".into(), "***".into()),
        ],
        result: "ok".into(),
        message: "Channel Hungup".into(),
        at_ms: 1_800_000_000_000,
    }
}

#[tokio::test]
async fn executed_actions_are_in_the_audit_log_of_their_tenant_once() {
    let test = TestBus::in_process();
    let dir = tempfile::tempdir().unwrap();
    let settings = ProvisioningSettings {
        database: DatabaseSettings {
            data_dir: dir.path().to_owned(),
            ..DatabaseSettings::default()
        },
        ..ProvisioningSettings::default()
    };
    let prov = Arc::new(
        Provisioning::open(&settings, test.bus.clone(), test.topology.clone())
            .await
            .unwrap(),
    );
    let admin = prov
        .bootstrap_user("acme", "boss", "a-long-password", Role::TenantAdmin)
        .await
        .unwrap();
    let other = prov
        .bootstrap_user("globex", "other", "a-long-password", Role::TenantAdmin)
        .await
        .unwrap();

    let stop = CancellationToken::new();
    let consumer = {
        let (prov, stop) = (prov.clone(), stop.clone());
        tokio::spawn(async move { prov.run_action_audit(stop).await })
    };
    let subject = test.topology.subjects().prov(
        &TenantId::new("acme").unwrap(),
        &Token::new(AMI_ACTION).unwrap(),
    );
    for action in ["Hangup", "Redirect"] {
        let json = serde_json::to_vec(&audit("acme", action)).unwrap();
        test.bus
            .publish(&subject, Outgoing::new(json))
            .await
            .unwrap();
    }
    // Not an audit record: skipped, and the consumer goes on.
    test.bus
        .publish(&subject, Outgoing::new(&b"{}"[..]))
        .await
        .unwrap();

    let filter = AuditFilter {
        entity: Some(AMI_ACTION.into()),
        ..AuditFilter::default()
    };
    let mut entries = Vec::new();
    for _ in 0..100 {
        entries = prov
            .audit_log(&Actor::of(&admin), &filter, Page::default())
            .await
            .unwrap()
            .items;
        if entries.len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut actions: Vec<&str> = entries.iter().map(|e| e.action.as_str()).collect();
    actions.sort_unstable();
    assert_eq!(actions, ["Hangup", "Redirect"]);
    assert!(entries.iter().all(|e| e.actor == "op@acme"));
    assert!(!entries[0].changes.to_string().contains("secret-value"));
    assert_eq!(entries[0].changes["pbx"], "pbx-1");

    // A record delivered twice (same stream sequence) is stored once.
    for _ in 0..2 {
        prov.record_action_audit(&audit("acme", "Originate"), 999_999)
            .await
            .unwrap();
    }
    let again = prov
        .audit_log(&Actor::of(&admin), &filter, Page::default())
        .await
        .unwrap();
    assert_eq!(again.total, 3);

    // Another tenant sees none of it.
    let theirs = prov
        .audit_log(&Actor::of(&other), &filter, Page::default())
        .await
        .unwrap();
    assert_eq!(theirs.total, 0);

    stop.cancel();
    consumer.await.unwrap().unwrap();
}
