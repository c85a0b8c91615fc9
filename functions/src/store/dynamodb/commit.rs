//! Sending a commit's `TransactWriteItems` so that a retry never applies it
//! twice.
//!
//! A transaction can be applied while its answer is lost (a connection
//! reset, a timeout, a 500 after the write). The SDK then sends the very
//! same request again, and that retry finds the conditions the first
//! attempt already changed: a key it created exists, a version it bumped
//! moved on. Read as a plain conflict, the service would re-plan and apply
//! a second change for one request (a second key, a second audit event)
//! and answer with it, the first one orphaned. Two defences:
//!
//! - Every attempt carries the same `ClientRequestToken`. DynamoDB answers
//!   a replay of an applied token within ten minutes with success and does
//!   not apply it again; while the first attempt is still being applied it
//!   answers `TransactionInProgressException`, which the SDK retries (as a
//!   throttling error) with the same token. When the SDK's attempts run out
//!   on it, the outcome is unknown: `Unavailable` (503), which a retry with
//!   an Idempotency-Key resolves, never a conflict that the service would
//!   re-plan into a second change once the first lands.
//! - Every conditional write also stores the token (`commit_token`) and asks
//!   for the item back when its condition fails (`ReturnValuesOnCondition
//!   CheckFailure = ALL_OLD`). A cancelled transaction whose failed item
//!   carries this commit's token was applied by an earlier attempt, since
//!   the token is random per commit and transactions are all-or-nothing:
//!   the commit succeeded. This holds where tokens are not de-duplicated
//!   (DynamoDB-compatible servers; moto 5.2 ignores the token) and after
//!   the ten minutes.
//!
//! What neither can tell: an earlier attempt applied, and before the
//! replay every item it wrote with a condition was written again by
//! another commit. The replay then conflicts and the service re-plans
//! (a key creation cannot reach that case: its new key item is written by
//! nobody else before its id is answered).

use super::StoreError;
use crate::store::CommitError;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
};
use rand::TryRngCore;

/// The attribute that names the last commit to write an item
/// conditionally.
pub const COMMIT_TOKEN: &str = "commit_token";

/// A random token per commit: 128 bits, 32 hex digits (DynamoDB allows 36).
fn new_token() -> Result<String, StoreError> {
    random_hex::<16>()
}

/// `N` random bytes from the OS, as hex digits.
pub(super) fn random_hex<const N: usize>() -> Result<String, StoreError> {
    let mut bytes = [0u8; N];
    rand::rngs::OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(|e| StoreError::internal("the OS random source failed", e))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Writes `token` into every conditional write of the transaction and asks
/// for the stored item when the condition fails. Unconditional writes
/// (audit events, id-set additions) replay harmlessly and stay unmarked.
fn mark(actions: &mut [TransactWriteItem], token: &str) {
    let alias = format!("#{COMMIT_TOKEN}");
    let placeholder = format!(":{COMMIT_TOKEN}");
    for action in actions {
        if let Some(put) = action.put.as_mut()
            && put.condition_expression.is_some()
        {
            put.item
                .insert(COMMIT_TOKEN.to_owned(), AttributeValue::S(token.to_owned()));
            put.return_values_on_condition_check_failure =
                Some(ReturnValuesOnConditionCheckFailure::AllOld);
        }
        if let Some(update) = action.update.as_mut()
            && update.condition_expression.is_some()
        {
            let set = format!("SET {alias} = {placeholder}");
            update.update_expression = match update.update_expression.strip_prefix("SET ") {
                Some(rest) => format!("{set}, {rest}"),
                None if !update.update_expression.contains("SET ") => {
                    format!("{set} {}", update.update_expression)
                }
                // A SET clause after another clause: left unmarked (the
                // store writes none such).
                None => continue,
            };
            update
                .expression_attribute_names
                .get_or_insert_default()
                .insert(alias.clone(), COMMIT_TOKEN.to_owned());
            update
                .expression_attribute_values
                .get_or_insert_default()
                .insert(placeholder.clone(), AttributeValue::S(token.to_owned()));
            update.return_values_on_condition_check_failure =
                Some(ReturnValuesOnConditionCheckFailure::AllOld);
        }
    }
}

/// True when an item whose condition failed carries `token`: an earlier
/// attempt of this commit applied it.
fn applied_earlier(
    cancel: &aws_sdk_dynamodb::types::error::TransactionCanceledException,
    token: &str,
) -> bool {
    cancel.cancellation_reasons().iter().any(|reason| {
        reason.code() == Some("ConditionalCheckFailed")
            && matches!(
                reason.item().and_then(|item| item.get(COMMIT_TOKEN)),
                Some(AttributeValue::S(stored)) if stored == token
            )
    })
}

/// Applies the transaction once: success, a conflict the service re-plans,
/// or a store error.
pub async fn transact(
    client: &Client,
    mut actions: Vec<TransactWriteItem>,
) -> Result<(), CommitError> {
    let token = new_token()?;
    mark(&mut actions, &token);
    let result = client
        .transact_write_items()
        .set_transact_items(Some(actions))
        .client_request_token(&token)
        .send()
        .await;
    let Err(e) = result else {
        return Ok(());
    };
    let context = match e.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(cancel)) => {
            if applied_earlier(cancel, &token) {
                tracing::info!("a retried commit found its first attempt applied");
                return Ok(());
            }
            // A failed condition, or a concurrent transaction on the same
            // items: the service re-reads and retries.
            let codes: Vec<&str> = cancel
                .cancellation_reasons()
                .iter()
                .map(|r| r.code().unwrap_or("None"))
                .collect();
            if codes
                .iter()
                .any(|code| matches!(*code, "ConditionalCheckFailed" | "TransactionConflict"))
            {
                return Err(CommitError::Conflict);
            }
            format!("DynamoDB cancelled the transaction ({})", codes.join(", "))
        }
        // An attempt of this very request (same token) may still be
        // applied: its outcome is unknown.
        Some(TransactWriteItemsError::TransactionInProgressException(_)) => {
            "an attempt of this transaction is still in progress".to_owned()
        }
        _ => return Err(StoreError::from(e).into()),
    };
    Err(StoreError::unavailable(context, e).into())
}

#[cfg(test)]
mod tests {
    use super::{COMMIT_TOKEN, mark, new_token};
    use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};

    fn update(expression: &str, condition: Option<&str>) -> TransactWriteItem {
        let update = Update::builder()
            .table_name("t")
            .key("pk", AttributeValue::S("a".into()))
            .update_expression(expression)
            .set_condition_expression(condition.map(str::to_owned))
            .build()
            .unwrap();
        TransactWriteItem::builder().update(update).build()
    }

    #[test]
    fn only_conditional_writes_carry_the_token() {
        let put = |condition: Option<&str>| {
            let put = Put::builder()
                .table_name("t")
                .item("pk", AttributeValue::S("a".into()))
                .set_condition_expression(condition.map(str::to_owned))
                .build()
                .unwrap();
            TransactWriteItem::builder().put(put).build()
        };
        let mut actions = vec![
            put(Some("attribute_not_exists(pk)")),
            put(None),
            update("SET #version = :next ADD ids :ids", Some("#version = :v")),
            update("ADD key_ids :ids", Some("attribute_exists(pk)")),
            update("ADD app_ids :ids", None),
        ];
        mark(&mut actions, "t0k3n");
        let token = AttributeValue::S("t0k3n".into());
        let first = actions[0].put.as_ref().unwrap();
        assert_eq!(first.item.get(COMMIT_TOKEN), Some(&token));
        assert!(first.return_values_on_condition_check_failure.is_some());
        assert!(
            !actions[1]
                .put
                .as_ref()
                .unwrap()
                .item
                .contains_key(COMMIT_TOKEN)
        );
        let expressions: Vec<&str> = actions[2..]
            .iter()
            .map(|a| a.update.as_ref().unwrap().update_expression.as_str())
            .collect();
        assert_eq!(
            expressions,
            [
                "SET #commit_token = :commit_token, #version = :next ADD ids :ids",
                "SET #commit_token = :commit_token ADD key_ids :ids",
                "ADD app_ids :ids",
            ]
        );
        let values = actions[3]
            .update
            .as_ref()
            .unwrap()
            .expression_attribute_values
            .as_ref()
            .unwrap();
        assert_eq!(values.get(":commit_token"), Some(&token));
    }

    #[test]
    fn tokens_are_fresh_and_fit_dynamodb() {
        let (a, b) = (new_token().unwrap(), new_token().unwrap());
        assert_ne!(a, b);
        assert_eq!(a.len(), 32);
    }
}
