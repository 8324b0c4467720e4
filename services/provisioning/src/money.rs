//! Money as integer micro-units.
//!
//! Prices per minute are small (0.0042 a minute) and totals are sums of many
//! of them, so money is an `i64` count of micro-units (1 unit = 1,000,000):
//! sums are exact, and the database stores the same integer (BIGINT). In JSON a
//! [`Money`] is a decimal string with six decimals (`"0.004200"`), which no
//! client can round; it is read from such a string or from a JSON number.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Micro-units per currency unit.
pub const MICROS: i64 = 1_000_000;

/// An amount of money in micro-units.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Money(pub i64);

impl Money {
    /// Zero.
    pub const ZERO: Money = Money(0);

    /// The amount in micro-units.
    pub fn micros(self) -> i64 {
        self.0
    }

    /// Parses a decimal amount (`"1"`, `"0.0042"`, `"-3.5"`): at most six
    /// decimals, no exponent.
    ///
    /// # Errors
    /// A message saying why the text is not an amount.
    pub fn parse(text: &str) -> Result<Money, String> {
        let text = text.trim();
        let (negative, digits) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
        if whole.is_empty() && frac.is_empty()
            || !whole.bytes().all(|b| b.is_ascii_digit())
            || !frac.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(format!("not a decimal amount: {text:?}"));
        }
        if frac.len() > 6 {
            return Err(format!("at most 6 decimals: {text:?}"));
        }
        let whole: i64 = if whole.is_empty() {
            0
        } else {
            whole
                .parse()
                .map_err(|_| format!("amount too large: {text:?}"))?
        };
        let frac: i64 = format!("{frac:0<6}").parse().unwrap_or(0);
        let micros = whole
            .checked_mul(MICROS)
            .and_then(|w| w.checked_add(frac))
            .ok_or_else(|| format!("amount too large: {text:?}"))?;
        Ok(Money(if negative { -micros } else { micros }))
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        let micros = MICROS.unsigned_abs();
        write!(f, "{sign}{}.{:06}", abs / micros, abs % micros)
    }
}

impl Serialize for Money {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Money {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Money;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a decimal amount as a string or a number")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Money, E> {
                Money::parse(v).map_err(E::custom)
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Money, E> {
                v.checked_mul(MICROS)
                    .map(Money)
                    .ok_or_else(|| E::custom("amount too large"))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Money, E> {
                i64::try_from(v)
                    .ok()
                    .and_then(|v| v.checked_mul(MICROS))
                    .map(Money)
                    .ok_or_else(|| E::custom("amount too large"))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Money, E> {
                // The shortest text that reads back as `v` is what the client
                // wrote (0.01 → "0.01"), so parse that, not `v * 1e6`.
                if !v.is_finite() {
                    return Err(E::custom("not a finite amount"));
                }
                Money::parse(&format!("{v}")).map_err(E::custom)
            }
        }
        d.deserialize_any(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_parse_exactly_and_print_with_six_decimals() {
        assert_eq!(Money::parse("0.0042").unwrap(), Money(4200));
        assert_eq!(Money::parse("12").unwrap(), Money(12_000_000));
        assert_eq!(Money::parse(".5").unwrap(), Money(500_000));
        assert_eq!(Money::parse("-1.25").unwrap(), Money(-1_250_000));
        assert_eq!(Money(4200).to_string(), "0.004200");
        assert_eq!(Money(-1_250_000).to_string(), "-1.250000");
        for bad in [
            "",
            ".",
            "1.2345678",
            "1e3",
            "abc",
            "1.2.3",
            "99999999999999999",
        ] {
            assert!(Money::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn json_numbers_and_strings_are_read_without_float_rounding() {
        let m: Money = serde_json::from_str("0.01").unwrap();
        assert_eq!(m, Money(10_000));
        let m: Money = serde_json::from_str("0.000001").unwrap();
        assert_eq!(m, Money(1));
        let m: Money = serde_json::from_str("\"0.1\"").unwrap();
        assert_eq!(m, Money(100_000));
        let m: Money = serde_json::from_str("3").unwrap();
        assert_eq!(m, Money(3_000_000));
        assert_eq!(
            serde_json::to_string(&Money(10_000)).unwrap(),
            "\"0.010000\""
        );
        // 0.1 + 0.2 summed in micro-units is exactly 0.3.
        let a: Money = serde_json::from_str("0.1").unwrap();
        let b: Money = serde_json::from_str("0.2").unwrap();
        assert_eq!(Money(a.0 + b.0).to_string(), "0.300000");
    }
}
