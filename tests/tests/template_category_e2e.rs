//! End-to-end through the runner and simulator: Meta recategorising a template reaches the CRM
//! as `template.category_changed`, and the sender's consent check follows the new category.

use std::time::Duration;

use e2e_tests::{customer_writes, meta_posts, of_type, send_commands, start_stack, CrmEvents};
use serde_json::{json, Value};

const PN: &str = "106540352242922";
const PATIENCE: Duration = Duration::from_secs(120);

fn template(id: &str, to: &str) -> Value {
    json!({"command_id": id, "type": "send_template", "phone_number_id": PN, "to": to,
           "template": {"name": "aviso_entrega", "language": {"code": "pt_BR"}}})
}

#[tokio::test]
async fn a_utility_template_recategorised_as_marketing_is_announced_and_then_refused_to_an_opted_out_contact(
) {
    let stack = start_stack(&[]).await;
    let crm = CrmEvents::of(&stack).await;
    customer_writes(
        &stack,
        json!({"from": "5511987650041", "name": "Lia", "text": "PARAR"}),
    )
    .await;
    let opted = crm.until("contact.opted_out", 1, PATIENCE).await;
    assert_eq!(of_type(&opted, "contact.opted_out").len(), 1, "{opted:#?}");

    // Approved as utility: an opted-out contact may still get it.
    meta_posts(
        &stack,
        "message_template_status_update",
        json!({"event": "APPROVED", "message_template_id": 594_425_479_261_596_i64,
               "message_template_name": "aviso_entrega", "message_template_language": "pt_BR",
               "reason": "NONE", "message_template_category": "UTILITY"}),
    )
    .await;
    crm.until("template.status", 1, PATIENCE).await;
    send_commands(&stack, &[template("cmd-utility", "+5511987650041")]).await;
    let first = crm.until("command.accepted", 1, PATIENCE).await;
    assert_eq!(of_type(&first, "command.accepted").len(), 1, "{first:#?}");

    // Meta recategorises it: the CRM hears of it, and the next send is refused.
    meta_posts(
        &stack,
        "template_category_update",
        json!({"message_template_id": 594_425_479_261_596_i64, "message_template_name": "aviso_entrega",
               "message_template_language": "pt_BR", "previous_category": "UTILITY",
               "new_category": "MARKETING"}),
    )
    .await;
    let changed = crm.until("template.category_changed", 1, PATIENCE).await;
    let changed = of_type(&changed, "template.category_changed");
    assert_eq!(changed.len(), 1);
    assert_eq!(changed[0]["data"]["previous_category"], "utility");
    assert_eq!(changed[0]["data"]["new_category"], "marketing");
    assert_eq!(changed[0]["data"]["impending"], false);
    assert!(changed[0]["data"]["effective_at"].is_string());

    send_commands(&stack, &[template("cmd-now-marketing", "+5511987650041")]).await;
    let events = crm.until("command.rejected", 1, PATIENCE).await;
    let rejected = of_type(&events, "command.rejected");
    assert_eq!(rejected.len(), 1, "{events:#?}");
    assert_eq!(rejected[0]["data"]["command_id"], "cmd-now-marketing");
    assert_eq!(rejected[0]["data"]["reason"], "opted_out");
    stack.shutdown().await;
}
