//! One clock for people: stored times are UTC; every time shown is in `[ui] time_zone`.

use crate::config::Zone;
use chrono::{DateTime, FixedOffset};

pub fn local(zone: &Zone, t: DateTime<FixedOffset>) -> DateTime<FixedOffset> {
    match zone {
        Zone::Fixed(offset) => t.with_timezone(offset),
        Zone::Named(tz) => t.with_timezone(tz).fixed_offset(),
    }
}

/// "UTC+08:00", or the zone's name ("Asia/Shanghai").
pub fn zone_name(zone: &Zone) -> String {
    match zone {
        Zone::Fixed(offset) if offset.local_minus_utc() == 0 => "UTC".into(),
        Zone::Fixed(offset) => format!("UTC{offset}"),
        Zone::Named(tz) => tz.name().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_shown_in_the_zone_and_the_zone_is_named() {
        let t = DateTime::parse_from_rfc3339("2026-11-30T12:37:28.698439788+00:00").unwrap();
        let china = Zone::parse("+08:00").unwrap();
        assert_eq!(
            local(&china, t).format("%Y-%m-%d %H:%M").to_string(),
            "2026-11-30 20:37"
        );
        assert_eq!(zone_name(&china), "UTC+08:00");
        assert_eq!(zone_name(&Zone::parse("UTC").unwrap()), "UTC");
        let berlin = Zone::parse("Europe/Berlin").unwrap();
        assert_eq!(local(&berlin, t).format("%H:%M").to_string(), "13:37");
        assert_eq!(zone_name(&berlin), "Europe/Berlin");
    }
}
