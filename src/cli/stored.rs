//! The report's advisory as the verbs read it: `publish::source`.

pub(super) use crate::publish::source::{checked, render, report, stored};
