//! Man pages, made from the same source as the code: embargo(1) and one
//! page per verb from the clap definitions, embargo.toml(5) from
//! `config::keys::KEYS`. `embargo man [PAGE]` prints one; `--out DIR`
//! writes them all (the Debian package installs those).

use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;

use clap::CommandFactory as _;

use super::Cli;

/// The verbs with a page of their own (`embargo-VERB(1)`).
fn verbs() -> Vec<clap::Command> {
    Cli::command()
        .get_subcommands()
        .filter(|c| c.get_name() != "help")
        .cloned()
        .collect()
}

pub(super) fn man(page: Option<&str>, out: Option<&Path>) -> anyhow::Result<ExitCode> {
    if let Some(dir) = out {
        let (man1, man5) = (dir.join("man1"), dir.join("man5"));
        std::fs::create_dir_all(&man1)?;
        std::fs::create_dir_all(&man5)?;
        let mut written = vec![write(&man1, "embargo.1", &main_page()?)?];
        for v in verbs() {
            written.push(write(&man1, &format!("embargo-{}.1", v.get_name()), &verb_page(&v)?)?);
        }
        written.push(write(&man5, "embargo.toml.5", &config_page())?);
        outln!("{} pages in {}", written.len(), dir.display());
        return Ok(ExitCode::SUCCESS);
    }
    let text = match page {
        None | Some("embargo") => main_page()?,
        Some("embargo.toml") | Some("embargo.toml(5)") | Some("config-file") => config_page(),
        Some(verb) => {
            let name = verb.trim_start_matches("embargo-");
            match verbs().into_iter().find(|v| v.get_name() == name) {
                Some(v) => verb_page(&v)?,
                None => anyhow::bail!(
                    "no man page {verb:?}: the pages are embargo, embargo.toml, and one per verb ({})",
                    verbs()
                        .iter()
                        .map(|v| v.get_name().to_owned())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }
        }
    };
    std::io::stdout().write_all(text.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

fn write(dir: &Path, name: &str, text: &str) -> anyhow::Result<String> {
    std::fs::write(dir.join(name), text)?;
    Ok(name.to_owned())
}

fn main_page() -> anyhow::Result<String> {
    let mut out = Vec::new();
    clap_mangen::Man::new(Cli::command()).render(&mut out)?;
    let mut text = String::from_utf8(out)?;
    // clap_mangen's own SEE ALSO does not exist; ours names real pages.
    text.push_str(&common_sections());
    let pages: Vec<String> = verbs()
        .iter()
        .map(|v| format!("\\fBembargo-{}\\fR(1)", v.get_name()))
        .collect();
    text.push_str(&format!(
        ".SH \"SEE ALSO\"\n\\fBembargo.toml\\fR(5), {}, \\fBsystemctl\\fR(1)\n",
        pages.join(", ")
    ));
    Ok(text)
}

fn verb_page(v: &clap::Command) -> anyhow::Result<String> {
    let name = format!("embargo-{}", v.get_name());
    let cmd = v
        .clone()
        .name(name.clone())
        .bin_name(format!("embargo {}", v.get_name()));
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd).render(&mut out)?;
    let mut text = String::from_utf8(out)?;
    text.push_str(&common_sections());
    text.push_str(".SH \"SEE ALSO\"\n\\fBembargo\\fR(1), \\fBembargo.toml\\fR(5)\n");
    Ok(text)
}

fn common_sections() -> String {
    ".SH FILES\n\
     .TP\n/etc/embargo/embargo.toml\nThe configuration (\\fB\\-\\-config\\fR or \\fBEMBARGO_CONFIG\\fR for another); see \\fBembargo.toml\\fR(5).\n\
     .TP\n/var/lib/embargo/embargo.sqlite3\nThe database under systemd (\\fBstore.path\\fR); only the daemon creates it.\n\
     .TP\n/etc/embargo/*.txt, *.html, *.md\nThe mail, digest, hall-of-fame and advisory templates.\n\
     .SH ENVIRONMENT\n\
     .TP\nEMBARGO_CONFIG\nThe configuration file, as \\fB\\-\\-config\\fR.\n\
     .TP\nCREDENTIALS_DIRECTORY\nWhere systemd's LoadCredential= puts the secret files; a secret file named in the configuration is read from here first.\n\
     .TP\nRUST_LOG\nLog filter (\\fBinfo\\fR for the daemon, \\fBwarn\\fR for the other verbs unless \\fB\\-v\\fR).\n\
     .TP\nNO_COLOR\nNo colour in \\fBreports list\\fR.\n\
     .TP\nSUDO_USER\nWho the report's timeline records as the actor (or \\fB\\-\\-as\\fR).\n\
     .SH \"EXIT STATUS\"\n\
     .TP\n0\nDone (for \\fBstatus\\fR: healthy). A closed pipe (\\fB| head\\fR) is not an error.\n\
     .TP\n1\nThe request failed (for \\fBstatus\\fR: something needs attention).\n\
     .TP\n2\nThe configuration or the database's location is wrong; for \\fBstatus\\fR: critical.\n"
        .to_owned()
}

/// embargo.toml(5), every key of `config::keys::KEYS` by section.
fn config_page() -> String {
    let esc = |s: &str| s.replace('\\', "\\\\").replace('-', "\\-");
    let mut t = String::from(
        ".TH EMBARGO.TOML 5 \"\" \"embargo\" \"File Formats\"\n\
         .SH NAME\nembargo.toml \\- the configuration of embargo, the security@ mailbox daemon\n\
         .SH SYNOPSIS\n/etc/embargo/embargo.toml\n\
         .SH DESCRIPTION\nOne TOML file. Relative paths resolve against its folder. Unknown keys are errors. \
         \\fBembargo check\\-config\\fR lists every problem at once with its line, key and fix; \
         \\fBembargo config show\\fR prints what is in effect. Sizes are bytes or strings such as \"25MiB\". \
         A secret file named by a key is read from $CREDENTIALS_DIRECTORY first (systemd's LoadCredential=).\n",
    );
    let mut section = "";
    for k in crate::config::keys::KEYS {
        let s = k.name.split('.').next().unwrap_or("");
        if s != section {
            section = s;
            let title = if let Some(a) = s.strip_suffix("[]") {
                format!("[[{a}]]")
            } else {
                format!("[{s}]")
            };
            t.push_str(&format!(".SH \"{}\"\n", esc(&title)));
        }
        t.push_str(&format!(
            ".TP\n\\fB{}\\fR{}\n{}{}\n",
            esc(k.name),
            if k.default.is_empty() {
                " (required)".to_owned()
            } else {
                format!(" (default: {})", esc(k.default))
            },
            esc(k.meaning),
            if k.secret { ". A secret: never printed." } else { "" }
        ));
    }
    t.push_str(
        ".SH \"SEE ALSO\"\n\\fBembargo\\fR(1), \\fBembargo\\-check\\-config\\fR(1), \\fBembargo\\-config\\fR(1)\n",
    );
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every verb has its page and is named in embargo(1)'s SEE ALSO; every
    /// config key is in embargo.toml(5).
    #[test]
    fn every_verb_and_key_has_its_page() {
        let main = main_page().unwrap();
        for v in verbs() {
            let page = verb_page(&v).unwrap();
            assert!(
                page.contains(".SH EXIT STATUS") || page.contains(".SH \"EXIT STATUS\""),
                "{}",
                v.get_name()
            );
            assert!(
                main.contains(&format!("embargo-{}", v.get_name())),
                "{} not in SEE ALSO",
                v.get_name()
            );
        }
        let config = config_page();
        for k in crate::config::keys::accepted() {
            assert!(
                config.contains(&k.replace('-', "\\-")),
                "{k} missing from embargo.toml(5)"
            );
        }
    }
}
