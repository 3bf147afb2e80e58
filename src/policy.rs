//! The disclosure policy's numbers, as promised to reporters.

use serde::Serialize;

/// The promises the acknowledgement states and the clocks will enforce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Promises {
    /// A human confirms or asks for more within this many business days.
    pub response_business_days: u32,
    /// A fix is aimed for within this many days...
    pub fix_days: u32,
    /// ...or this many for especially complex issues.
    pub complex_fix_days: u32,
    /// Technical details may be held back this long after the fix.
    pub details_delay_days: u32,
}

impl Default for Promises {
    fn default() -> Self {
        Promises {
            response_business_days: 5,
            fix_days: 90,
            complex_fix_days: 120,
            details_delay_days: 30,
        }
    }
}
