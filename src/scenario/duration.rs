//! Duration text as scenario files write it: a number and a unit (`"250ms"`, `"1.5s"`),
//! ranges (`"1ms..5ms"`) and signed offsets (`"-2s"`). Parsed exactly, in integer
//! nanoseconds, so that a file means the same run on every machine.

use crate::sim::time::Duration;

/// The accepted units and their length in nanoseconds.
const UNITS: &[(&str, u64)] = &[
    ("ns", 1),
    ("us", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

/// Why a duration text was refused. Each variant knows its message and how to fix it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DurationError {
    /// A number without a unit, such as `"30"` or the TOML integer `30`.
    NoUnit {
        number: String,
    },
    UnknownUnit {
        text: String,
        unit: String,
    },
    Malformed {
        text: String,
    },
    Negative {
        text: String,
    },
    /// A fraction that does not land on a whole nanosecond.
    TooPrecise {
        text: String,
    },
    TooLarge {
        text: String,
    },
    /// A range whose first bound is larger than its second.
    Reversed {
        text: String,
        min: String,
        max: String,
    },
}

impl DurationError {
    pub fn message(&self) -> String {
        match self {
            DurationError::NoUnit { number } => format!("duration `{number}` has no unit"),
            DurationError::UnknownUnit { text, unit } => {
                format!("duration `{text}` has an unknown unit `{unit}`")
            }
            DurationError::Malformed { text } => format!("`{text}` is not a duration"),
            DurationError::Negative { text } => format!("duration `{text}` is negative"),
            DurationError::TooPrecise { text } => {
                format!("duration `{text}` is finer than a nanosecond")
            }
            DurationError::TooLarge { text } => format!("duration `{text}` is too large"),
            DurationError::Reversed { text, .. } => {
                format!("range `{text}` has its larger bound first")
            }
        }
    }

    /// A few words to show under the offending text.
    pub fn label(&self) -> &'static str {
        match self {
            DurationError::NoUnit { .. } => "no unit",
            DurationError::UnknownUnit { .. } => "unknown unit",
            DurationError::Malformed { .. } => "not a duration",
            DurationError::Negative { .. } => "negative",
            DurationError::TooPrecise { .. } => "finer than 1ns",
            DurationError::TooLarge { .. } => "too large",
            DurationError::Reversed { .. } => "larger bound first",
        }
    }

    pub fn help(&self) -> String {
        match self {
            DurationError::NoUnit { number } => {
                format!("add a unit, e.g. \"{number}s\" or \"{number}ms\" (units: {})", unit_list())
            }
            DurationError::UnknownUnit { .. } => format!("use one of the units {}", unit_list()),
            DurationError::Malformed { text } => {
                let range = if text.contains("..") { ", and a range as \"1ms..5ms\"" } else { "" };
                format!(
                    "write a number directly followed by a unit, e.g. \"30s\", \"250ms\" or \
                     \"1.5s\" (units: {}){range}",
                    unit_list()
                )
            }
            DurationError::Negative { .. } => {
                "remove the `-`: this duration cannot be negative".into()
            }
            DurationError::TooPrecise { .. } => {
                "use fewer decimals or a smaller unit: the resolution is 1ns".into()
            }
            DurationError::TooLarge { .. } => "use a duration shorter than 100000h".into(),
            DurationError::Reversed { min, max, .. } => {
                format!("write the smaller bound first: \"{max}..{min}\"")
            }
        }
    }
}

fn unit_list() -> String {
    UNITS.iter().map(|(u, _)| *u).collect::<Vec<_>>().join(", ")
}

/// Upper bound on any duration: far beyond any sensible run, far below `u64` nanoseconds,
/// so that sums of a few durations cannot overflow the kernel's clock.
const MAX_NANOS: u64 = 100_000 * 3_600_000_000_000;

/// Parses a non-negative duration such as `"30s"`, `"250ms"` or `"1.5s"`.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    if text.starts_with('-') {
        return Err(DurationError::Negative { text: text.into() });
    }
    parse_nanos(text).map(Duration::from_nanos)
}

/// Parses a signed duration (a clock offset) such as `"-2s"`, in nanoseconds.
pub fn parse_signed(text: &str) -> Result<i64, DurationError> {
    let (negative, magnitude) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let nanos = parse_nanos(magnitude).map_err(|e| match e {
        DurationError::NoUnit { .. } => DurationError::NoUnit { number: text.into() },
        other => with_text(other, text),
    })?;
    // MAX_NANOS < i64::MAX, so the cast is exact.
    let nanos = nanos as i64;
    Ok(if negative { -nanos } else { nanos })
}

/// The text a scenario file writes for `d`, exact to the nanosecond and in the largest
/// unit that keeps it whole: `"30s"`, `"250ms"`, `"1234567ns"`. [`parse_duration`] reads
/// it back to `d`.
pub fn duration_text(d: Duration) -> String {
    magnitude_text(d.as_nanos())
}

/// As [`duration_text`], for a signed duration (a clock offset) that [`parse_signed`]
/// reads back.
pub fn signed_text(nanos: i64) -> String {
    let sign = if nanos < 0 { "-" } else { "" };
    format!("{sign}{}", magnitude_text(nanos.unsigned_abs()))
}

fn magnitude_text(nanos: u64) -> String {
    // Seconds at most, as scenario files write their durations.
    let (unit, length) = UNITS[..4]
        .iter()
        .rev()
        .find(|&&(_, length)| nanos.is_multiple_of(length))
        .copied()
        .expect("every count of nanoseconds is whole in ns");
    format!("{}{unit}", nanos / length)
}

/// Parses `"A..B"` (min and max) or a single duration `"A"` (both bounds the same).
pub fn parse_range(text: &str) -> Result<(Duration, Duration), DurationError> {
    let Some((min_text, max_text)) = text.split_once("..") else {
        let d = parse_duration(text)?;
        return Ok((d, d));
    };
    let min = parse_duration(min_text).map_err(|e| with_text(e, text))?;
    let max = parse_duration(max_text).map_err(|e| with_text(e, text))?;
    if min > max {
        return Err(DurationError::Reversed {
            text: text.into(),
            min: min_text.into(),
            max: max_text.into(),
        });
    }
    Ok((min, max))
}

/// Reports an error about a part (one bound, a magnitude) with the whole text the user wrote.
fn with_text(err: DurationError, whole: &str) -> DurationError {
    let whole = whole.to_string();
    match err {
        DurationError::UnknownUnit { unit, .. } => DurationError::UnknownUnit { text: whole, unit },
        DurationError::Malformed { .. } => DurationError::Malformed { text: whole },
        DurationError::Negative { .. } => DurationError::Negative { text: whole },
        DurationError::TooPrecise { .. } => DurationError::TooPrecise { text: whole },
        DurationError::TooLarge { .. } => DurationError::TooLarge { text: whole },
        other @ (DurationError::NoUnit { .. } | DurationError::Reversed { .. }) => other,
    }
}

/// `digits [. digits] unit`, exactly, with no sign and no spaces.
fn parse_nanos(text: &str) -> Result<u64, DurationError> {
    let malformed = || DurationError::Malformed { text: text.into() };
    let number_len = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let (number, unit) = text.split_at(number_len);
    let (whole, fraction) = match number.split_once('.') {
        Some((w, f)) => (w, f),
        None => (number, ""),
    };
    let digits_ok = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits_ok(whole) || (number.contains('.') && !digits_ok(fraction)) {
        return Err(malformed());
    }
    if unit.is_empty() {
        return Err(DurationError::NoUnit { number: number.into() });
    }
    let Some(&(_, unit_nanos)) = UNITS.iter().find(|(u, _)| *u == unit) else {
        return Err(if unit.chars().all(|c| c.is_ascii_alphabetic()) {
            DurationError::UnknownUnit { text: text.into(), unit: unit.into() }
        } else {
            malformed()
        });
    };
    let too_large = || DurationError::TooLarge { text: text.into() };
    let whole_nanos =
        whole.parse::<u64>().ok().and_then(|w| w.checked_mul(unit_nanos)).ok_or_else(too_large)?;
    let fraction_nanos = fraction_nanos(fraction.trim_end_matches('0'), unit_nanos)
        .ok_or_else(|| DurationError::TooPrecise { text: text.into() })?;
    let nanos = whole_nanos.checked_add(fraction_nanos).ok_or_else(too_large)?;
    if nanos > MAX_NANOS {
        return Err(too_large());
    }
    Ok(nanos)
}

/// `0.<digits>` of a unit in nanoseconds; `None` unless it is a whole number of them.
fn fraction_nanos(digits: &str, unit_nanos: u64) -> Option<u64> {
    if digits.is_empty() {
        return Some(0);
    }
    // The last digit is not zero and a unit is at most 36e11 ns, so more than 13 decimals
    // never name whole nanoseconds; refusing them early keeps the arithmetic in range.
    if digits.len() > 13 {
        return None;
    }
    let numerator = digits.parse::<u128>().ok()? * u128::from(unit_nanos);
    let denominator = 10u128.pow(digits.len() as u32);
    (numerator % denominator == 0).then(|| (numerator / denominator) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns(text: &str) -> u64 {
        parse_duration(text).map(Duration::as_nanos).unwrap()
    }

    #[test]
    fn texts_read_back_to_what_they_write() {
        for (nanos, text) in
            [(0, "0s"), (30_000_000_000, "30s"), (250_000_000, "250ms"), (1_500, "1500ns")]
        {
            assert_eq!(duration_text(Duration::from_nanos(nanos)), text);
            assert_eq!(ns(text), nanos);
        }
        assert_eq!(duration_text(Duration::from_nanos(7_000)), "7us");
        for nanos in [0, 1, -1, 6_400_000_000, -437_000_000, -1_234_567_891] {
            assert_eq!(parse_signed(&signed_text(nanos)), Ok(nanos));
        }
        for nanos in [1, 999, 1_000_001, 5_123_456_789, 90_000_000_000, 3_600_000_000_123] {
            assert_eq!(ns(&duration_text(Duration::from_nanos(nanos))), nanos);
        }
    }

    #[test]
    fn every_unit() {
        assert_eq!(ns("7ns"), 7);
        assert_eq!(ns("7us"), 7_000);
        assert_eq!(ns("250ms"), 250_000_000);
        assert_eq!(ns("30s"), 30_000_000_000);
        assert_eq!(ns("2m"), 120_000_000_000);
        assert_eq!(ns("1h"), 3_600_000_000_000);
        assert_eq!(ns("0s"), 0);
    }

    #[test]
    fn decimals_are_exact() {
        assert_eq!(ns("1.5s"), 1_500_000_000);
        assert_eq!(ns("0.25ms"), 250_000);
        assert_eq!(ns("1.500s"), 1_500_000_000);
        assert_eq!(ns("2.0ns"), 2);
        assert_eq!(
            parse_duration("1.5ns"),
            Err(DurationError::TooPrecise { text: "1.5ns".into() })
        );
        assert_eq!(
            parse_duration("0.00000000000001h"),
            Err(DurationError::TooPrecise { text: "0.00000000000001h".into() })
        );
    }

    #[test]
    fn bare_number_needs_a_unit() {
        let err = parse_duration("30").unwrap_err();
        assert_eq!(err, DurationError::NoUnit { number: "30".into() });
        assert_eq!(err.message(), "duration `30` has no unit");
        assert!(err.help().starts_with("add a unit, e.g. \"30s\""));
    }

    #[test]
    fn malformed_and_unknown_units() {
        for text in ["", "s", ".5s", "1.s", "1..2", "3 s", "+3s", "3s ", "1e3s", "3s5ms"] {
            assert_eq!(
                parse_duration(text),
                Err(DurationError::Malformed { text: text.into() }),
                "{text:?}"
            );
        }
        assert_eq!(
            parse_duration("3sec"),
            Err(DurationError::UnknownUnit { text: "3sec".into(), unit: "sec".into() })
        );
        assert_eq!(parse_duration("-3s"), Err(DurationError::Negative { text: "-3s".into() }));
    }

    #[test]
    fn too_large() {
        for text in ["100001h", "99999999999999999999s", "18446744073709551615ns"] {
            assert_eq!(
                parse_duration(text),
                Err(DurationError::TooLarge { text: text.into() }),
                "{text:?}"
            );
        }
        assert_eq!(ns("100000h"), MAX_NANOS);
    }

    #[test]
    fn signed() {
        assert_eq!(parse_signed("-2s"), Ok(-2_000_000_000));
        assert_eq!(parse_signed("150ms"), Ok(150_000_000));
        assert_eq!(parse_signed("-0s"), Ok(0));
        assert_eq!(parse_signed("--2s"), Err(DurationError::Malformed { text: "--2s".into() }));
        assert_eq!(parse_signed("-2"), Err(DurationError::NoUnit { number: "-2".into() }));
    }

    #[test]
    fn ranges() {
        let ms = Duration::from_millis;
        assert_eq!(parse_range("1ms..5ms"), Ok((ms(1), ms(5))));
        assert_eq!(parse_range("2ms"), Ok((ms(2), ms(2))));
        assert_eq!(parse_range("1.5s..2s"), Ok((ms(1500), ms(2000))));
        assert_eq!(parse_range("3ms..3ms"), Ok((ms(3), ms(3))));
        let reversed = parse_range("5ms..1ms").unwrap_err();
        assert_eq!(reversed.message(), "range `5ms..1ms` has its larger bound first");
        assert_eq!(reversed.help(), "write the smaller bound first: \"1ms..5ms\"");
        assert_eq!(parse_range("1ms..5"), Err(DurationError::NoUnit { number: "5".into() }));
        assert_eq!(
            parse_range("1ms...5ms"),
            Err(DurationError::Malformed { text: "1ms...5ms".into() })
        );
        assert_eq!(
            parse_range("1ms..5x"),
            Err(DurationError::UnknownUnit { text: "1ms..5x".into(), unit: "x".into() })
        );
    }
}
