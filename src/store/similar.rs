//! The similar-report index: each report's terms and how many reports hold
//! each term (`similar` computes them, this keeps them). Written in the
//! transaction that records the report; read to suggest similar reports.
//! Nothing in it that the database does not hold already (the terms come
//! from the stored, decrypted text).

#[cfg(test)]
mod quality;

use std::collections::HashMap;

use rusqlite::{Connection, params};

use super::{Result, Store};
use crate::similar::known::Known;
use crate::similar::{Kind, Suggestion, Term};

/// Adds `terms` to a report's (inside the recording transaction); a term
/// the report already had is not counted twice.
pub(super) fn index(tx: &Connection, report_id: i64, terms: &[Term]) -> Result<()> {
    for t in terms {
        let added = tx
            .prepare_cached("INSERT OR IGNORE INTO report_terms (term, kind, report_id) VALUES (?1, ?2, ?3)")?
            .execute(params![t.text, t.kind.as_str(), report_id])?;
        if added == 1 {
            tx.prepare_cached(
                "INSERT INTO term_df (term, kind, df) VALUES (?1, ?2, 1)
                 ON CONFLICT (term, kind) DO UPDATE SET df = df + 1",
            )?
            .execute(params![t.text, t.kind.as_str()])?;
        }
    }
    Ok(())
}

/// A word held by more than this share of reports says nothing about which
/// report is which; it is not used to find candidates.
const COMMON: f64 = 0.05;
/// How many candidates are scored in full.
const CANDIDATES: usize = 25;

impl Store {
    /// What the team sees for a report with `terms`: the similar reports
    /// and the matching published advisories (`known`), best first, at or
    /// above `threshold`, at most `limit`.
    pub fn suggest(
        &self,
        terms: &[Term],
        except: Option<i64>,
        threshold: f64,
        known: &Known,
        limit: usize,
    ) -> Result<Vec<Suggestion>> {
        let mut out = self.similar_reports(terms, except, threshold, limit)?;
        if !known.is_empty() {
            let rarity = self.rarity(terms)?;
            let idf = |t: &Term| rarity.get(t).copied().unwrap_or(1.0);
            out.extend(known.suggest(terms, &idf, threshold, limit));
            out.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.id.cmp(&b.id)));
            out.truncate(limit);
        }
        Ok(out)
    }

    /// The suggestions for a recorded report (`reports similar`, `reports
    /// show`): its own terms against every other report.
    pub fn suggest_for(
        &self,
        tracking_id: &str,
        threshold: f64,
        known: &Known,
        limit: usize,
    ) -> Result<Vec<Suggestion>> {
        use rusqlite::OptionalExtension as _;
        let id: i64 = self
            .conn
            .query_row(
                "SELECT id FROM reports WHERE tracking_id = ?1 COLLATE NOCASE",
                [tracking_id],
                |r| r.get(0),
            )
            .optional()?
            .ok_or_else(|| super::Error::NotFound(tracking_id.to_owned()))?;
        let terms = self.report_terms(id)?;
        self.suggest(&terms, Some(id), threshold, known, limit)
    }

    /// A disclosed report of our own with an advisory is suggested as that
    /// advisory: its CVE (or tracking id) and the version that fixed it.
    fn own_advisory(&self, s: &mut Suggestion) -> Result<()> {
        if s.state.as_deref() != Some("disclosed") {
            return Ok(());
        }
        let Some(stored) = self.advisory(&s.id)? else {
            return Ok(());
        };
        let Ok(a) = toml::from_str::<crate::advisory::Advisory>(&stored.document) else {
            return Ok(());
        };
        s.kind = "advisory";
        s.fixed = a.affected.iter().find_map(|x| x.fixed.clone());
        s.report = Some(s.id.clone());
        if let Some(cve) = a.cve {
            s.id = cve;
        }
        Ok(())
    }

    /// A report's indexed terms.
    pub fn report_terms(&self, report_id: i64) -> Result<Vec<Term>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT kind, term FROM report_terms WHERE report_id = ?1")?;
        let rows = stmt.query_map([report_id], |r| {
            Ok(Term {
                kind: Kind::parse(&r.get::<_, String>(0)?),
                text: r.get(1)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// How many reports hold a term, and how many reports there are.
    fn df(&self, t: &Term) -> Result<u64> {
        use rusqlite::OptionalExtension as _;
        Ok(self
            .conn
            .prepare_cached("SELECT df FROM term_df WHERE term = ?1 AND kind = ?2")?
            .query_row(params![t.text, t.kind.as_str()], |r| r.get::<_, i64>(0))
            .optional()?
            .unwrap_or(0) as u64)
    }

    /// The rarity of each term (inverse document frequency, ≥ 1).
    pub fn rarity(&self, terms: &[Term]) -> Result<HashMap<Term, f64>> {
        let n = self.reports_count()? as f64;
        let mut out = HashMap::new();
        for t in terms {
            let df = self.df(t)? as f64;
            out.insert(t.clone(), ((n + 1.0) / (df + 1.0)).ln() + 1.0);
        }
        Ok(out)
    }

    fn reports_count(&self) -> Result<u64> {
        Ok(self
            .conn
            .prepare_cached("SELECT count(*) FROM reports")?
            .query_row([], |r| r.get::<_, i64>(0))? as u64)
    }

    /// The reports most like one with `terms` (other than `except`), best
    /// first, at or above `threshold`, at most `limit`.
    pub fn similar_reports(
        &self,
        terms: &[Term],
        except: Option<i64>,
        threshold: f64,
        limit: usize,
    ) -> Result<Vec<Suggestion>> {
        let n = self.reports_count()? as f64;
        let rarity = self.rarity(terms)?;
        // Candidates: the reports sharing the query's informative terms,
        // by the part of the dot product those terms make.
        let mut partial: HashMap<i64, f64> = HashMap::new();
        let mut stmt = self
            .conn
            .prepare_cached("SELECT report_id FROM report_terms WHERE term = ?1 AND kind = ?2")?;
        for t in terms {
            let idf = rarity.get(t).copied().unwrap_or(1.0);
            if t.kind == Kind::Word && self.df(t)? as f64 > (COMMON * n).max(30.0) {
                continue;
            }
            let w = (t.kind.weight() * idf).powi(2);
            for id in stmt.query_map(params![t.text, t.kind.as_str()], |r| r.get::<_, i64>(0))? {
                let id = id?;
                if Some(id) != except {
                    *partial.entry(id).or_default() += w;
                }
            }
        }
        let mut candidates: Vec<(i64, f64)> = partial.into_iter().collect();
        candidates.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        candidates.truncate(CANDIDATES);
        let mut out = Vec::new();
        for (id, _) in candidates {
            let theirs = self.report_terms(id)?;
            let mut all = rarity.clone();
            for (t, r) in self.rarity(&theirs)? {
                all.entry(t).or_insert(r);
            }
            let idf = |t: &Term| all.get(t).copied().unwrap_or(1.0);
            let (score, evidence) = crate::similar::compare(terms, &theirs, &idf);
            if score >= threshold {
                let (tracking_id, state): (String, String) = self
                    .conn
                    .prepare_cached("SELECT tracking_id, state FROM reports WHERE id = ?1")?
                    .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))?;
                let mut s = Suggestion {
                    id: tracking_id,
                    score: (score * 100.0).round() / 100.0,
                    evidence,
                    kind: "report",
                    fixed: None,
                    state: Some(state),
                    report: None,
                };
                self.own_advisory(&mut s)?;
                out.push(s);
            }
        }
        out.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.id.cmp(&b.id)));
        out.truncate(limit);
        Ok(out)
    }
}
