//! The command line: clap definitions and the commands behind them.

use std::io::Write as _;
use std::process::ExitCode;

use clap::Parser;
use tokio_util::sync::CancellationToken;

use crate::config;
use crate::report::ReportState;

/// `println!` for the verbs: a write error (the reader closed the pipe:
/// `embargo reports list | head -1`) is returned, not a panic.
macro_rules! outln {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($t)*)?
    }};
}

/// `print!` for the verbs, as [`outln!`].
macro_rules! out {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        write!(std::io::stdout().lock(), $($t)*)?
    }};
}

mod advisory;
mod args;
mod check;
mod cve;
mod disclose;
pub mod json;
mod list;
mod man;
mod ops;
mod show;
mod stored;
mod talk;
mod team;
mod timeline;

use crate::store::{ReportSummary, Store};
pub use args::{
    AdvisoryCommand, Cli, ColorChoice, Command, ConfigCommand, CveCommand, KeysCommand, ListArgs, MatrixCommand,
    OauthCommand, PublishArgs, ReportsCommand,
};

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let level = match (cli.verbose, matches!(cli.command, Command::Run { .. })) {
        (0, false) => "warn",
        (0, true) | (1, _) => "info",
        (2, _) => "debug",
        _ => "trace",
    };
    crate::logging::init(cli.log_format, level);
    if let Some(name) = &cli.actor {
        ACTOR.get_or_init(|| name.clone());
    }
    match dispatch(cli) {
        Ok(code) => code,
        // The reader went away (`| head`): nothing went wrong.
        Err(e) if closed_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("embargo: {e:#}");
            if e.downcast_ref::<Setup>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

fn closed_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// A problem with how embargo is set up (the config, the database's
/// location): exit status 2, as for a config error.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Setup(pub String);

/// The database for a CLI verb: it must exist (only the daemon creates
/// one), at this binary's schema version; read-only verbs change nothing.
pub fn open_store(cfg: &config::Config, access: crate::store::Access) -> anyhow::Result<Store> {
    use crate::store::OpenError;
    Store::open_existing(&cfg.store.path, access).map_err(|e| {
        let key = format!("store.path in {}", cfg.file.display());
        let text = match &e {
            OpenError::Missing { path } => format!(
                "no database at {} ({key}); the daemon creates it on its first start (`systemctl start embargo`), \
                 or fix store.path if it is mistyped",
                path.display()
            ),
            OpenError::NotAFile { .. } | OpenError::NotEmbargo { .. } => format!("{e} ({key})"),
            _ => e.to_string(),
        };
        anyhow::Error::new(Setup(text))
    })
}

fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match &cli.command {
        Command::CheckConfig { connect } => return check::check_config(&cli.config, *connect),
        Command::Man { page, out } => return man::man(page.as_deref(), out.as_deref()),
        Command::Completions { shell } => return ops::completions(*shell),
        _ => {}
    }
    let cfg = match config::load_for(&cli.config, needs(&cli.command)) {
        Ok(c) => c,
        Err(problems) => {
            for p in problems {
                eprintln!("embargo: config error: {p}");
            }
            return Ok(ExitCode::from(2));
        }
    };
    match cli.command {
        Command::CheckConfig { connect } => check::check_config(&cli.config, connect),
        Command::Run { once } => run(cfg, once),
        Command::Reports { command } => {
            let access = match command {
                ReportsCommand::List(_) | ReportsCommand::Show { .. } | ReportsCommand::Similar { .. } => {
                    crate::store::Access::ReadOnly
                }
                _ => crate::store::Access::ReadWrite,
            };
            let store = open_store(&cfg, access)?;
            reports(store, &cfg, command)
        }
        Command::Advisory { command } => advisory::dispatch(&cfg, command, &actor()),
        Command::Cve { command } => cve::dispatch(&cfg, command, &actor()),
        Command::Matrix { command } => matrix_verb(&cfg, command),
        Command::Oauth { command } => ops::oauth(&cfg, command),
        Command::Config {
            command: ConfigCommand::Show { json },
        } => show::show(&cfg, json),
        Command::Status { json } => ops::status(&cfg, json),
        Command::Digest {
            dry_run,
            send,
            html,
            now,
        } => team::digest(&cfg, dry_run || !send, html, now.as_deref()),
        Command::HallOfFame { format } => team::hall_of_fame(&cfg, &format),
        Command::SecurityTxt { sign } => team::security_txt(&cfg, sign),
        Command::Backup { path } => ops::backup(&cfg, &path),
        Command::Restore { path } => ops::restore(&cfg, &path),
        Command::Man { .. } | Command::Completions { .. } => Ok(ExitCode::SUCCESS),
        Command::Keys {
            command: KeysCommand::List { json },
        } => keys_list(&cfg, json),
        Command::Keys {
            command: KeysCommand::Accept { address, fingerprint },
        } => {
            if crate::pipeline::identity(&cfg).proof_configured(&address) {
                anyhow::bail!(
                    "{address} is embargo's own, a team member's or a downstream recipient's address: its key \
                     comes from the configuration ([team] keys, [[downstream]] key), never from mail"
                );
            }
            let mut store = open_store(&cfg, crate::store::Access::ReadWrite)?;
            store.accept_key(&address, &fingerprint, &actor())?;
            outln!("{address}: {fingerprint} is pinned; replies are encrypted to it");
            Ok(ExitCode::SUCCESS)
        }
        Command::Messages { json, limit } => ops::messages(&cfg, json, limit),
    }
}

/// What a command reads besides the config file: the daemon everything,
/// a verb that sends mail SMTP and the team key (never the IMAP password),
/// a verb that signs the team key, the read-only verbs nothing (a missing
/// CA or password file never stops `reports list`).
fn needs(command: &Command) -> config::Needs {
    use config::Needs;
    let sends = matches!(
        command,
        Command::Reports {
            command: ReportsCommand::Reply { .. }
                | ReportsCommand::Fixed { notify: true, .. }
                | ReportsCommand::DiscloseOn { notify: true, .. }
                | ReportsCommand::Disclosed { notify: true, .. }
                | ReportsCommand::State { notify: true, .. }
                | ReportsCommand::Merge { notify: true, .. }
        } | Command::Digest { send: true, .. }
            | Command::Advisory {
                command: AdvisoryCommand::NotifyDownstream(_)
            }
    ) || matches!(
        // Back to "new" from an excluded topic sends the acknowledgement.
        command,
        Command::Reports {
            command: ReportsCommand::State { state, .. }
        } if state == ReportState::New.as_str()
    );
    match command {
        Command::Run { .. } | Command::CheckConfig { .. } => Needs::RUN,
        _ if sends => Needs::SEND,
        Command::Keys {
            command: KeysCommand::List { .. },
        }
        | Command::SecurityTxt { sign: true }
        | Command::Advisory {
            command: AdvisoryCommand::Announce { .. },
        } => Needs::KEYS,
        Command::Oauth { .. } => Needs {
            oauth: true,
            files: true,
            ..Needs::NOTHING
        },
        // Publishing reads no template (the CVE and GitHub payloads are
        // JSON), and a dry run, which sends nothing, no secret.
        Command::Cve {
            command:
                CveCommand::Reserve { dry_run: true, .. }
                | CveCommand::Publish { dry_run: true, .. }
                | CveCommand::Reject { dry_run: true, .. },
        }
        | Command::Advisory {
            command: AdvisoryCommand::Publish(PublishArgs { dry_run: true, .. }),
        } => Needs::NOTHING,
        Command::Cve { .. } => Needs {
            cve: true,
            ..Needs::NOTHING
        },
        Command::Advisory {
            command: AdvisoryCommand::Publish(_) | AdvisoryCommand::Sync { .. },
        } => Needs {
            github: true,
            ..Needs::NOTHING
        },
        _ => Needs::NOTHING,
    }
}

/// `embargo matrix login|status|trust`.
fn matrix_verb(cfg: &config::Config, command: MatrixCommand) -> anyhow::Result<ExitCode> {
    let m = cfg
        .matrix
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("no [matrix] table in the configuration (see `embargo man embargo.toml`)"))?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    match command {
        MatrixCommand::Login => {
            let password =
                crate::secrets::read(&m.password_file).map_err(|p| anyhow::anyhow!("matrix.password_file: {p}"))?;
            // The folder beside the database is the service user's: become
            // them (after reading the root-only password).
            let parent = m.state_dir.parent().unwrap_or(std::path::Path::new("."));
            std::fs::create_dir_all(parent).map_err(|e| anyhow::anyhow!("cannot create {}: {e}", parent.display()))?;
            crate::files::become_folder_owner(parent)
                .map_err(|e| anyhow::anyhow!("cannot become the owner of {}: {e}", parent.display()))?;
            let device = rt.block_on(crate::matrix::login(m, password.trim()))?;
            outln!(
                "{}: device {device} created, cross-signing set up, {} joined",
                m.user_id,
                m.room
            );
        }
        MatrixCommand::Status { json } => {
            let mut s = crate::matrix::status(m)?;
            // Before the daemon's first start there is no database: no
            // pins, no posts yet.
            let pinned = if cfg.store.path.exists() {
                let store = open_store(cfg, crate::store::Access::ReadOnly)?;
                s.posts = store.post_stats(crate::matrix::CHANNEL)?;
                store.matrix_trusted()?
            } else {
                Vec::new()
            };
            s.operators = crate::matrix::trust::operators(m, &pinned);
            if let Some(e) = &s.posts.last_error {
                s.problems.push(format!("{} post(s) waiting: {e}", s.posts.pending));
            }
            if json {
                outln!("{}", serde_json::to_string_pretty(&s)?);
            } else {
                outln!("{}", crate::matrix::http::render_status(&s));
            }
            if !s.problems.is_empty() {
                return Ok(ExitCode::FAILURE);
            }
        }
        MatrixCommand::Trust { user_id, device_id } => {
            let actor = actor();
            let line = crate::matrix::http::trust(m, &user_id, device_id.as_deref(), &actor, || {
                open_store(cfg, crate::store::Access::ReadWrite)
            })?;
            outln!("{line}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn run(cfg: config::Config, once: bool) -> anyhow::Result<ExitCode> {
    // Two workers and a small blocking pool (intake, outbox and metrics each
    // block on SQLite one call at a time): the unit's TasksMax=64 holds with
    // room to spare. Idle blocking threads go after a second, before the
    // memory is settled after a burst (`crate::memory`), so their stacks and
    // caches do not stay behind.
    crate::memory::limit_arenas();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .worker_threads(2)
        .max_blocking_threads(16)
        .thread_keep_alive(std::time::Duration::from_secs(1))
        .build()?;
    rt.block_on(async move {
        if once {
            return match crate::daemon::run_once(cfg).await {
                Ok(s) => {
                    tracing::info!(processed = s.processed, outbox_retrying = s.outbox_retrying,
                        stages = %crate::timing::summary(), "done");
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    eprintln!("embargo: {e:#}");
                    Ok(ExitCode::FAILURE)
                }
            };
        }
        let shutdown = CancellationToken::new();
        spawn_signal_handler(shutdown.clone())?;
        crate::daemon::run(cfg, shutdown).await?;
        tracing::info!("stopped");
        Ok(ExitCode::SUCCESS)
    })
}

fn spawn_signal_handler(shutdown: CancellationToken) -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: finishing the message in hand, then stopping"),
            _ = int.recv() => tracing::info!("SIGINT: finishing the message in hand, then stopping"),
        }
        shutdown.cancel();
    });
    Ok(())
}

fn annotated(store: &Store, cfg: &config::Config) -> anyhow::Result<Vec<ReportSummary>> {
    let now = jiff::Timestamp::now();
    let mut reports = store.list_reports()?;
    for r in &mut reports {
        crate::policy::annotate(r, &cfg.policy.calendar, &cfg.policy.promises, now);
    }
    Ok(reports)
}

/// Mail-derived text as a terminal may show it: C0 controls (but tab and
/// newline), ESC, DEL and C1 controls become visible escapes, so a report
/// cannot move the cursor, rewrite the screen or set the clipboard (OSC 52).
pub fn terminal_safe(text: &str) -> String {
    crate::text::printable(text)
}

fn keys_list(cfg: &config::Config, json: bool) -> anyhow::Result<ExitCode> {
    let team = crate::openpgp::TeamKeys::load(&cfg.openpgp.keys, cfg.openpgp.passphrase.as_deref())?;
    let store = open_store(cfg, crate::store::Access::ReadOnly)?;
    let reporters = store.reporter_keys()?;
    let team = team.info();
    let mut out = std::io::stdout().lock();
    if json {
        let v = json::Keys {
            team: team.iter().map(json::TeamKey::from).collect(),
            reporters: reporters.iter().map(json::LearnedKey::from).collect(),
        };
        writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(out, "Team keys")?;
    if team.is_empty() {
        writeln!(out, "  none configured ([openpgp] keys)")?;
    }
    for k in &team {
        writeln!(
            out,
            "  {}  {:<14} expires {:<20} {}",
            k.fingerprint,
            k.algorithm,
            k.expiry.as_deref().unwrap_or("never"),
            k.user_ids.join(", ")
        )?;
    }
    writeln!(out, "\nReporter keys")?;
    if reporters.is_empty() {
        writeln!(out, "  none learned yet")?;
    }
    for r in &reporters {
        let trust = match (r.status.as_str(), r.vouched) {
            ("pinned", true) => "vouched",
            ("pinned", false) => "first sight",
            _ => "",
        };
        let line = format!(
            "  {:<30} {}  {:<9} {:<11} {:<10} first seen {}",
            r.address, r.fingerprint, r.status, trust, r.source, r.first_seen
        );
        writeln!(out, "{}", terminal_safe(&line))?;
    }
    if reporters.iter().any(|r| r.status == "pinned" && !r.vouched) {
        writeln!(
            out,
            "\nA key pinned on first sight speaks only for the report it came with: whoever\n\
             wrote first holds it. `embargo keys accept ADDRESS FINGERPRINT` vouches for it."
        )?;
    }
    if reporters.iter().any(|r| r.status == "candidate") {
        writeln!(
            out,
            "\nA candidate is not used until the pinned key vouches for it or you run\n  embargo keys accept ADDRESS FINGERPRINT"
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Who runs the CLI, for the event rows.
/// `--as NAME`, when given.
static ACTOR: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Who runs this command, for the report's timeline: `--as NAME`, else the
/// person behind sudo (`$SUDO_USER`), else the login user (the audit login
/// uid, which survives `su` and `sudo -u embargo`), else `$USER`, else the
/// name of the effective user.
fn actor() -> String {
    let name = ACTOR
        .get()
        .cloned()
        .or_else(|| std::env::var("SUDO_USER").ok().filter(|u| !u.is_empty() && u != "root"))
        .or_else(|| {
            std::fs::read_to_string("/proc/self/loginuid")
                .ok()
                .and_then(|s| s.trim().parse::<u32>().ok())
                .filter(|&uid| uid != u32::MAX)
                .and_then(user_name)
        })
        .or_else(|| std::env::var("USER").ok().filter(|u| !u.is_empty()))
        .or_else(|| user_name(crate::files::effective_uid()))
        .unwrap_or_else(|| format!("uid {}", crate::files::effective_uid()));
    format!("cli:{name}")
}

/// The account name of `uid` (from /etc/passwd).
fn user_name(uid: u32) -> Option<String> {
    std::fs::read_to_string("/etc/passwd").ok()?.lines().find_map(|l| {
        let mut f = l.split(':');
        let name = f.next()?;
        (f.nth(1)?.parse::<u32>().ok()? == uid).then(|| name.to_owned())
    })
}

fn reports(mut store: Store, cfg: &config::Config, command: ReportsCommand) -> anyhow::Result<ExitCode> {
    let who = actor();
    match command {
        ReportsCommand::List(args) => return list::list(&store, cfg, &args),
        ReportsCommand::Show { id, json } => return timeline::show(&store, cfg, &id, json),
        ReportsCommand::Similar { id, json, limit } => return timeline::similar(&store, cfg, &id, json, limit),
        ReportsCommand::State {
            id,
            state,
            note,
            notify,
        } => talk::set_state(store, cfg, &id, &state, &note, notify, &who)?,
        ReportsCommand::Complex { id } => {
            store.set_complex(&id, &who)?;
            outln!(
                "{id}: complex (fix clock {} days)",
                cfg.policy.promises.complex_fix_days
            );
        }
        ReportsCommand::Fixed { id, date, notify } => talk::fixed(store, cfg, &id, date.as_deref(), notify, &who)?,
        ReportsCommand::Reply { id, file } => talk::reply(store, cfg, &id, file.as_deref(), &who)?,
        ReportsCommand::DiscloseOn {
            id,
            date,
            notify,
            force,
        } => talk::disclose_on(store, cfg, &id, &date, force.as_deref(), notify, &who)?,
        ReportsCommand::Disclosed { id, notify } => talk::disclosed(store, cfg, &id, notify, &who)?,
        ReportsCommand::Merge {
            id,
            into,
            into_positional,
            notify,
        } => {
            let into = into
                .or(into_positional)
                .ok_or_else(|| anyhow::anyhow!("name the report it duplicates: --into OTHER"))?;
            talk::merge(store, cfg, &id, &into, notify, &who)?;
        }
        ReportsCommand::Credit { id, accept: true, .. } => {
            store.accept_credit_proposal(&id, &who)?;
            outln!("{id}: the proposed credit is recorded");
        }
        ReportsCommand::Credit {
            id,
            name,
            url,
            no_credit,
            accept: false,
        } => talk::credit(&mut store, &id, name.as_deref(), url.as_deref(), no_credit, &who)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// Sends what the outbox holds now, from the CLI (rather than waiting for the
/// daemon). Returns how many are still waiting after temporary failures.
fn send_now(cfg: &config::Config) -> anyhow::Result<usize> {
    let outbox = crate::store::StoreHandle::new(open_store(cfg, crate::store::Access::ReadWrite)?);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let tokens = crate::oauth::TokenSource::for_config(cfg)?;
    Ok(rt.block_on(async {
        let transport = crate::outbox::transport(&cfg.smtp, tokens)?;
        let never = tokio_util::sync::CancellationToken::new();
        crate::outbox::drain(&outbox, &transport, &cfg.smtp, cfg.reply.max_automatic_per_hour, &never).await
    })?)
}

#[cfg(test)]
mod tests {
    use super::terminal_safe;

    #[test]
    fn mail_derived_text_cannot_drive_the_terminal() {
        let osc52 = "subject\u{1b}]52;c;Y3VybCBldmlsLmV4YW1wbGV8c2g=\u{7}";
        let out = terminal_safe(osc52);
        assert!(!out.contains('\u{1b}') && !out.contains('\u{7}'), "{out}");
        assert!(out.contains("\\x1b]52;c;"));
        for c in ['\u{9b}', '\u{7f}', '\r', '\u{8}', '\u{0}'] {
            assert!(!terminal_safe(&format!("a{c}b")).contains(c), "{c:?}");
        }
        assert_eq!(
            terminal_safe("tab\tand\nnewline, ünïcødé"),
            "tab\tand\nnewline, ünïcødé"
        );
    }
}
