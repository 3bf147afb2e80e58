//! `[matrix]`: the team's end-to-end encrypted room (issue 26, work in
//! progress on this branch).

use std::path::PathBuf;

use super::ConfigError;
use super::raw::RawMatrix;
use super::validate::Validator;

/// The validated `[matrix]` table.
#[derive(Debug, Clone)]
pub struct MatrixConfig {
    pub homeserver: String,
    /// `@embargo:example.org`.
    pub user_id: String,
    /// Read by `embargo matrix login` only (the device keeps its token).
    pub password_file: PathBuf,
    /// `!room:server` or `#alias:server`.
    pub room: String,
    /// Matrix user ids whose commands count.
    pub operators: Vec<String>,
    /// Report text is posted only to an encrypted room.
    pub require_encryption: bool,
    /// The device's session and keys (0600, beside the database).
    pub state_dir: PathBuf,
}

fn is_matrix_id(sigil: char, s: &str) -> bool {
    s.strip_prefix(sigil)
        .and_then(|rest| rest.split_once(':'))
        .is_some_and(|(local, server)| !local.is_empty() && !server.is_empty() && !s.contains(char::is_whitespace))
}

impl Validator<'_> {
    pub(super) fn matrix(&self, r: RawMatrix, store_path: &std::path::Path) -> Result<MatrixConfig, ConfigError> {
        let err = |key: &str, p: String| self.err("matrix", key, p);
        let homeserver = r.homeserver.ok_or_else(|| {
            err(
                "homeserver",
                "missing: the homeserver's URL (https://matrix.example.org)".into(),
            )
        })?;
        self.https_endpoint("matrix", "homeserver", &homeserver)?;
        let user_id = r.user_id.filter(|u| is_matrix_id('@', u)).ok_or_else(|| {
            err(
                "user_id",
                "missing or not a Matrix user id like \"@embargo:example.org\"".into(),
            )
        })?;
        let room = r
            .room
            // Room version 12 ids have no server part (`!` and a hash).
            .filter(|x| (x.len() > 1 && x.starts_with('!') && !x.contains(char::is_whitespace)) || is_matrix_id('#', x))
            .ok_or_else(|| {
                err(
                    "room",
                    "missing or not a room id (!id:server) or alias (#room:server)".into(),
                )
            })?;
        for o in &r.operators {
            if !is_matrix_id('@', o) {
                return Err(err(
                    "operators",
                    format!("{o:?} is not a Matrix user id like \"@alice:example.org\""),
                ));
            }
        }
        let password_file = r.password_file.ok_or_else(|| {
            err(
                "password_file",
                "missing: the bot account's password, for `embargo matrix login`".into(),
            )
        })?;
        let state_dir = store_path.parent().unwrap_or(std::path::Path::new(".")).join("matrix");
        Ok(MatrixConfig {
            homeserver: homeserver.trim_end_matches('/').to_owned(),
            user_id,
            password_file: crate::secrets::resolve(&self.path(&password_file)),
            room,
            operators: r.operators,
            require_encryption: r.require_encryption.unwrap_or(true),
            state_dir,
        })
    }
}
