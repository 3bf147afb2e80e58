//! `embargo advisory ...`: edit, show, import and export the advisory kept
//! with a report.

use std::io::Read as _;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;

use super::AdvisoryCommand;
use super::stored::{render, report, stored};
use crate::advisory::export::{self, Format};
use crate::advisory::{Advisory, Invalid, draft};
use crate::config::Config;
use crate::store::Store;

pub(super) fn dispatch(cfg: &Config, command: AdvisoryCommand, actor: &str) -> anyhow::Result<ExitCode> {
    let access = match command {
        AdvisoryCommand::Show { .. } | AdvisoryCommand::Export { .. } | AdvisoryCommand::Announce { .. } => {
            crate::store::Access::ReadOnly
        }
        _ => crate::store::Access::ReadWrite,
    };
    // Publishing reads its own tables' absence before any database.
    let open = || super::open_store(cfg, access);
    match command {
        AdvisoryCommand::Publish(args) => publish(cfg, args, actor),
        AdvisoryCommand::Sync { id, json } => sync(cfg, &id, json, actor),
        AdvisoryCommand::Edit { id } => edit(&mut open()?, &id, actor),
        AdvisoryCommand::Show { id, json } => show(&open()?, &id, json),
        AdvisoryCommand::Import { id, file } => import(&mut open()?, &id, &file, actor),
        AdvisoryCommand::Export {
            id,
            format,
            draft,
            all,
            out,
        } => {
            let store = open()?;
            let format: Format = format.parse().map_err(|e: String| anyhow::anyhow!("--format: {e}"))?;
            match (id, all, out) {
                (_, true, Some(dir)) => export_all(&store, cfg, format, &dir),
                (Some(id), _, _) => export_one(&store, cfg, &id, format, draft),
                _ => anyhow::bail!("name a report, or --all with --out DIR"),
            }
        }
        AdvisoryCommand::NotifyDownstream(q) => {
            drop(open()?);
            super::disclose::notify_downstream(cfg, &q, actor)
        }
        AdvisoryCommand::Announce { id, pre, release_at } => {
            drop(open()?);
            super::disclose::announce(cfg, &id, pre, release_at.as_deref())
        }
    }
}

fn edit(store: &mut Store, id: &str, actor: &str) -> anyhow::Result<ExitCode> {
    let r = report(store, id)?;
    let wish = draft::reporter_wish(&r);
    let saved = store.advisory(&r.id)?;
    let old: Option<Advisory> = saved
        .as_ref()
        .map(|s| toml::from_str(&s.document))
        .transpose()
        .with_context(|| format!("the stored advisory of {}", r.id))?;
    let document = match saved {
        Some(s) => s.document,
        None => draft::from_report(&r).to_toml(),
    };
    let dir = tempfile::Builder::new().prefix("embargo-advisory-").tempdir()?;
    let path = dir.path().join(format!("{}.toml", r.id));
    let mut text = draft::edit_file(&r.id, &r, &document, &[]);
    loop {
        write_private(&path, &text)?;
        run_editor(&path)?;
        let saved = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        let body = draft::strip_comment_head(&saved);
        if saved == text || body.trim().is_empty() {
            eprintln!("{}: advisory not saved (the file came back unchanged or empty)", r.id);
            return Ok(ExitCode::FAILURE);
        }
        match Advisory::parse(&body, &wish) {
            Ok(a) => {
                let changed = draft::changed_fields(old.as_ref(), &a);
                if store.save_advisory(&r.id, &body, &changed, actor)? {
                    outln!("{}: advisory saved ({changed})", r.id);
                } else {
                    outln!("{}: advisory unchanged", r.id);
                }
                return Ok(ExitCode::SUCCESS);
            }
            Err(Invalid(problems)) => text = draft::edit_file(&r.id, &r, &body, &problems),
        }
    }
}

/// The advisory may be confidential until disclosure: mode 0600, in a
/// private folder that is removed afterwards.
fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    std::io::Write::write_all(&mut f, text.as_bytes())?;
    Ok(())
}

/// `$VISUAL`, else `$EDITOR`, else `vi`, through the shell (so an editor
/// with arguments, `code --wait`, works).
fn run_editor(path: &Path) -> anyhow::Result<()> {
    let editor = std::env::var("VISUAL")
        .ok()
        .filter(|e| !e.trim().is_empty())
        .or_else(|| std::env::var("EDITOR").ok().filter(|e| !e.trim().is_empty()));
    let editor = match editor {
        Some(e) => e,
        None if std::io::IsTerminal::is_terminal(&std::io::stdin()) => "vi".to_owned(),
        None => anyhow::bail!("no $VISUAL or $EDITOR, and no terminal for vi: set one, or use `advisory import`"),
    };
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("sh")
        .arg(path)
        .status()
        .with_context(|| format!("cannot run the editor {editor:?}"))?;
    if !status.success() {
        anyhow::bail!("the editor {editor:?} exited with {status}; nothing was saved");
    }
    Ok(())
}

fn show(store: &Store, id: &str, json: bool) -> anyhow::Result<ExitCode> {
    let r = report(store, id)?;
    let Some(s) = store.advisory(&r.id)? else {
        eprintln!(
            "{}: no advisory yet; `embargo advisory edit {}` starts one from the report",
            r.id, r.id
        );
        return Ok(ExitCode::FAILURE);
    };
    if !json {
        out!("{}", s.document);
        return Ok(ExitCode::SUCCESS);
    }
    let a: Advisory = toml::from_str(&s.document)?;
    let mut v = serde_json::to_value(&a)?;
    v["id"] = serde_json::json!(r.id);
    v["scores"] = serde_json::to_value(a.scores())?;
    v["updated_at"] = serde_json::json!(s.updated_at);
    v["updated_by"] = serde_json::json!(s.updated_by);
    outln!("{}", serde_json::to_string_pretty(&v)?);
    Ok(ExitCode::SUCCESS)
}

fn import(store: &mut Store, id: &str, file: &Path, actor: &str) -> anyhow::Result<ExitCode> {
    let r = report(store, id)?;
    let text = if file == Path::new("-") {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s)?;
        s
    } else {
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?
    };
    let body = draft::strip_comment_head(&text);
    let a = match Advisory::parse(&body, &draft::reporter_wish(&r)) {
        Ok(a) => a,
        Err(Invalid(problems)) => {
            eprintln!(
                "embargo: {} is not a valid advisory; nothing was saved:",
                file.display()
            );
            for p in problems {
                eprintln!("  {p}");
            }
            return Ok(ExitCode::FAILURE);
        }
    };
    let old = stored(store, &r.id)?.map(|(a, _)| a);
    let changed = draft::changed_fields(old.as_ref(), &a);
    if store.save_advisory(&r.id, &body, &changed, actor)? {
        outln!("{}: advisory saved ({changed})", r.id);
    } else {
        outln!("{}: advisory unchanged", r.id);
    }
    Ok(ExitCode::SUCCESS)
}

fn export_one(store: &Store, cfg: &Config, id: &str, format: Format, draft: bool) -> anyhow::Result<ExitCode> {
    let r = report(store, id)?;
    out!("{}", render(store, cfg, &r, format, draft)?);
    if format == Format::Ghsa {
        eprintln!(
            "embargo: to create the advisory on GitHub, save this as {0} and run:\n  {1}",
            format.file_name(&r.id),
            export::gh_command(&cfg.advisory, &format.file_name(&r.id))
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Every disclosed report with an advisory, one file each.
fn export_all(store: &Store, cfg: &Config, format: Format, dir: &Path) -> anyhow::Result<ExitCode> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut n = 0;
    for r in store.list_reports()? {
        if r.state != crate::report::ReportState::Disclosed || store.advisory(&r.id)?.is_none() {
            continue;
        }
        let text = render(store, cfg, &r, format, false)?;
        let file = dir.join(format.file_name(&r.id));
        crate::files::open(&file, crate::files::Existing::Truncate)
            .and_then(|mut f| std::io::Write::write_all(&mut f, text.as_bytes()))
            .with_context(|| format!("cannot write {}", file.display()))?;
        outln!("{}", file.display());
        if format == Format::Ghsa {
            outln!("  {}", export::gh_command(&cfg.advisory, &file.display().to_string()));
        }
        n += 1;
    }
    eprintln!("embargo: {n} advisories exported");
    Ok(ExitCode::SUCCESS)
}

/// `advisory publish ID --to github [--request-cve] [--publish]`.
fn publish(cfg: &Config, args: crate::cli::PublishArgs, actor: &str) -> anyhow::Result<ExitCode> {
    use crate::publish::github::{self, Outcome, Wanted};
    let g = cfg.github.as_ref().context(
        "no [github] table in the configuration: GitHub needs token_file and repository (see `embargo man \
         embargo.toml`)",
    )?;
    let api = crate::publish::github_api::GithubApi::new(g)?;
    if args.dry_run {
        api.api.dry_run();
    }
    let mut store = super::open_store(cfg, crate::store::Access::ReadWrite)?;
    let mut cx = github::Cx {
        store: &mut store,
        cfg,
        api: &api,
        actor,
    };
    let want = Wanted {
        request_cve: args.request_cve,
        publish: args.publish,
        force: args.force,
    };
    match github::publish(&mut cx, &args.id, &want)? {
        Outcome::DryRun(requests) => {
            for r in requests {
                outln!("{r}");
            }
            eprintln!("embargo: dry run: nothing was sent");
        }
        Outcome::Done { ghsa, steps } => {
            let id = super::stored::report(cx.store, &args.id)?.id;
            if args.json {
                let view = super::json::Ghsa {
                    report: Some(&id),
                    ..super::json::Ghsa::from(&ghsa)
                };
                outln!("{}", serde_json::to_string_pretty(&view)?);
            } else {
                for s in &steps {
                    outln!("{id}: {s}");
                }
                outln!(
                    "{id}: {} is {} on GitHub{}{}",
                    ghsa.ghsa_id,
                    ghsa.state,
                    ghsa.cve_id.as_deref().map(|c| format!(", {c}")).unwrap_or_default(),
                    ghsa.html_url.as_deref().map(|u| format!(": {u}")).unwrap_or_default()
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `advisory sync ID`.
fn sync(cfg: &Config, id: &str, json: bool, actor: &str) -> anyhow::Result<ExitCode> {
    let g = cfg.github.as_ref().context("no [github] table in the configuration")?;
    let api = crate::publish::github_api::GithubApi::new(g)?;
    let mut store = super::open_store(cfg, crate::store::Access::ReadWrite)?;
    let mut cx = crate::publish::github::Cx {
        store: &mut store,
        cfg,
        api: &api,
        actor,
    };
    let row = crate::publish::github::sync(&mut cx, id)?;
    let id = super::stored::report(cx.store, id)?.id;
    if json {
        let view = super::json::Ghsa {
            report: Some(&id),
            ..super::json::Ghsa::from(&row)
        };
        outln!("{}", serde_json::to_string_pretty(&view)?);
    } else {
        outln!(
            "{id}: {} is {} on GitHub{}",
            row.ghsa_id,
            row.state,
            match (&row.cve_id, &row.cve_requested_at) {
                (Some(c), _) => format!(", {c}"),
                (None, Some(_)) => ", a CVE id is requested".to_owned(),
                _ => String::new(),
            }
        );
    }
    Ok(ExitCode::SUCCESS)
}
