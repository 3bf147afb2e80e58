//! Whether a room command counts. Only what is proven has an effect, as
//! everywhere in embargo: the command must come from an operator
//! (`matrix.operators`), in the configured room, end-to-end encrypted,
//! from a device that operator's cross-signing identity signed (that
//! identity pinned at first sight, as reporters' OpenPGP keys are; a
//! changed identity is refused until `embargo matrix trust USER`) or from a
//! device trusted explicitly with `embargo matrix trust USER DEVICE`.
//! What the homeserver says alone (a display name, an unencrypted event, a
//! `sender` field) proves nothing.

use matrix_sdk::Client;
use matrix_sdk::deserialized_responses::{EncryptionInfo, VerificationLevel, VerificationState};
use matrix_sdk::ruma::UserId;

use crate::config::MatrixConfig;
use crate::store::StoreHandle;

/// Whether a command counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// It counts; the actor for the timeline (`matrix:@user:server`).
    Accept { actor: String, note: Option<String> },
    /// It does nothing; why, for the answer.
    Refuse(String),
}

/// An operator's trust as `matrix status` shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct OperatorTrust {
    pub user_id: String,
    /// The pinned master key, when the operator was seen.
    pub identity: Option<String>,
    /// Devices trusted explicitly.
    pub devices: Vec<String>,
}

/// Judges one decrypted (or not) room event's sender.
pub async fn judge(
    client: &Client,
    store: &StoreHandle,
    cfg: &MatrixConfig,
    in_room: bool,
    sender: &UserId,
    info: Option<&EncryptionInfo>,
) -> anyhow::Result<Verdict> {
    let refuse = |why: String| Ok(Verdict::Refuse(why));
    if !in_room {
        return refuse(format!("commands count only in {}", cfg.room));
    }
    if !cfg.operators.iter().any(|o| o == sender.as_str()) {
        return refuse(format!(
            "{sender} is not an operator (matrix.operators in embargo's configuration)"
        ));
    }
    let Some(info) = info else {
        return refuse("the command was not end-to-end encrypted".to_owned());
    };
    if info.sender != sender {
        return refuse("the command's encryption belongs to another user".to_owned());
    }
    let Some(device_id) = info.sender_device.clone() else {
        return refuse("the command's device is unknown".to_owned());
    };
    // The keys as the homeserver has them now, not as last synced: an
    // identity reset a moment ago must not pass as the pinned one.
    let identity = client.encryption().request_user_identity(sender).await?;
    let device = client.encryption().get_device(sender, &device_id).await?;
    let dev = device_id.to_string();
    let current_key = device.as_ref().and_then(|d| d.ed25519_key()).map(|k| k.to_base64());
    if let Some(v) = explicit(store, sender, &dev, current_key.as_deref(), &info.verification_state).await? {
        return Ok(v);
    }
    match &info.verification_state {
        VerificationState::Verified
        | VerificationState::Unverified(VerificationLevel::UnverifiedIdentity)
        | VerificationState::Unverified(VerificationLevel::VerificationViolation) => {}
        VerificationState::Unverified(VerificationLevel::UnsignedDevice) => {
            return refuse(format!(
                "device {dev} is not signed by {sender}'s cross-signing identity: verify it from another of your \
                 sessions, or run `embargo matrix trust {sender} {dev}` on the server"
            ));
        }
        VerificationState::Unverified(other) => {
            return refuse(format!(
                "the command cannot be linked to a device of {sender} ({other})"
            ));
        }
    }
    if !device.as_ref().is_some_and(|d| d.is_cross_signed_by_owner()) {
        return refuse(format!(
            "device {dev} is not signed by {sender}'s cross-signing identity"
        ));
    }
    pinned_identity(identity, store, sender).await
}

/// A device trusted explicitly (`matrix trust USER DEVICE`), with the key
/// it had then: its verdict, or None when it was not trusted so.
async fn explicit(
    store: &StoreHandle,
    sender: &UserId,
    dev: &str,
    current_key: Option<&str>,
    state: &VerificationState,
) -> anyhow::Result<Option<Verdict>> {
    let trusted = store
        .call({
            let (user, dev) = (sender.to_string(), dev.to_owned());
            move |s| s.matrix_trusted_device(&user, &dev)
        })
        .await?;
    let (Some(trusted), Some(current)) = (trusted, current_key) else {
        return Ok(None);
    };
    Ok(Some(if trusted == current && sender_device_matches(state) {
        Verdict::Accept {
            actor: format!("matrix:{sender}"),
            note: None,
        }
    } else {
        Verdict::Refuse(format!(
            "device {dev} of {sender} has another key than when it was trusted: run `embargo matrix trust {sender} {dev}` \
             on the server if that is expected"
        ))
    }))
}

/// The sender's cross-signing identity against the one pinned at first
/// sight (pinned now when there is none).
async fn pinned_identity(
    identity: Option<matrix_sdk::encryption::identities::UserIdentity>,
    store: &StoreHandle,
    sender: &UserId,
) -> anyhow::Result<Verdict> {
    let no_identity = || Ok(Verdict::Refuse(format!("{sender} has no cross-signing identity")));
    let Some(identity) = identity else {
        return no_identity();
    };
    let Some(master) = identity.master_key().get_first_key().map(|k| k.to_base64()) else {
        return no_identity();
    };
    let user = sender.to_string();
    let pinned = store
        .call({
            let user = user.clone();
            move |s| s.matrix_pinned_identity(&user)
        })
        .await?;
    let accept = |note: Option<String>| Verdict::Accept {
        actor: format!("matrix:{sender}"),
        note,
    };
    match pinned {
        Some(p) if p == master => Ok(accept(None)),
        Some(_) => Ok(Verdict::Refuse(format!(
            "{sender}'s cross-signing identity changed since it was first seen: if that is expected, run \
             `embargo matrix trust {sender}` on the server"
        ))),
        None => {
            store
                .call(move |s| s.matrix_pin_identity(&user, &master, "first sight"))
                .await?;
            Ok(accept(Some(format!(
                "{sender}'s cross-signing identity pinned at first sight"
            ))))
        }
    }
}

/// An explicitly trusted device still has to be the device that made the
/// Megolm session.
fn sender_device_matches(state: &VerificationState) -> bool {
    !matches!(
        state,
        VerificationState::Unverified(VerificationLevel::None(_) | VerificationLevel::MismatchedSender)
    )
}

/// Each operator's pins, for `matrix status`.
pub fn operators(cfg: &MatrixConfig, pinned: &[crate::store::Pinned]) -> Vec<OperatorTrust> {
    cfg.operators
        .iter()
        .map(|o| OperatorTrust {
            user_id: o.clone(),
            identity: pinned
                .iter()
                .find(|p| &p.user_id == o && p.device_id.is_empty())
                .map(|p| p.key.clone()),
            devices: pinned
                .iter()
                .filter(|p| &p.user_id == o && !p.device_id.is_empty())
                .map(|p| p.device_id.clone())
                .collect(),
        })
        .collect()
}
