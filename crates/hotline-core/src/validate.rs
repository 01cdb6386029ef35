//! Field rules shared by the object types. Each check returns a
//! human-readable reason naming the field, so a user or an operator sees
//! exactly what was wrong.

use crate::limits::{MAX_LIST_ITEMS, MAX_SHORT_TEXT};

/// A field that broke its rule: the field's name and the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct FieldError {
    /// The field, for example `emails[1]`.
    pub field: String,
    /// What is wrong with it.
    pub reason: String,
}

/// Shorthand for a failed field check.
pub fn field_error(field: impl Into<String>, reason: impl Into<String>) -> FieldError {
    FieldError { field: field.into(), reason: reason.into() }
}

/// Non-empty text of at most `max` bytes with no control characters.
pub fn text(field: &str, value: &str, max: usize) -> Result<(), FieldError> {
    if value.trim().is_empty() {
        return Err(field_error(field, "must not be empty"));
    }
    optional_text(field, value, max)
}

/// Like [`text`] but allows the empty string.
pub fn optional_text(field: &str, value: &str, max: usize) -> Result<(), FieldError> {
    if value.len() > max {
        return Err(field_error(field, format!("is {} bytes, the limit is {max}", value.len())));
    }
    // Newlines are allowed (postal addresses); other control characters are
    // refused so that nothing can rewrite a terminal when displayed.
    if value.chars().any(|c| c.is_control() && c != '\n') {
        return Err(field_error(field, "contains control characters"));
    }
    Ok(())
}

/// A list of at most `max` items, each checked by `check`.
pub fn list<T>(
    field: &str,
    items: &[T],
    max: usize,
    mut check: impl FnMut(&str, &T) -> Result<(), FieldError>,
) -> Result<(), FieldError> {
    if items.len() > max {
        return Err(field_error(field, format!("has {} entries, the limit is {max}", items.len())));
    }
    for (i, item) in items.iter().enumerate() {
        check(&format!("{field}[{i}]"), item)?;
    }
    Ok(())
}

/// A non-empty list of at most [`MAX_LIST_ITEMS`] items.
pub fn required_list<T>(
    field: &str,
    items: &[T],
    check: impl FnMut(&str, &T) -> Result<(), FieldError>,
) -> Result<(), FieldError> {
    if items.is_empty() {
        return Err(field_error(field, "needs at least one entry"));
    }
    list(field, items, MAX_LIST_ITEMS, check)
}

/// A plausible e-mail address: `local@domain.tld`, no spaces.
pub fn email(field: &str, value: &str) -> Result<(), FieldError> {
    text(field, value, MAX_SHORT_TEXT)?;
    let ok = match value.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !value.contains(char::is_whitespace)
                && !domain.contains('@')
        }
        None => false,
    };
    if ok { Ok(()) } else { Err(field_error(field, format!("'{value}' is not an e-mail address"))) }
}

/// A phone number in international form: `+`, then 7 to 15 digits, with
/// optional spaces, dashes, dots or parentheses for readability.
pub fn phone(field: &str, value: &str) -> Result<(), FieldError> {
    text(field, value, 64)?;
    let digits = value.chars().filter(char::is_ascii_digit).count();
    let ok = value.starts_with('+')
        && value[1..].chars().all(|c| c.is_ascii_digit() || " -.()".contains(c))
        && (7..=15).contains(&digits);
    if ok {
        Ok(())
    } else {
        Err(field_error(
            field,
            format!("'{value}' is not an international phone number (for example +33 1 23 45 67 89)"),
        ))
    }
}

/// An IANA time zone name, for example `Europe/Paris`.
pub fn timezone(field: &str, value: &str) -> Result<(), FieldError> {
    if value.len() <= 64 && value.parse::<chrono_tz::Tz>().is_ok() {
        Ok(())
    } else {
        Err(field_error(field, format!("'{value}' is not an IANA time zone name (for example Europe/Paris)")))
    }
}

/// A BCP 47 language tag in its common form: a 2–3 letter primary language,
/// then optional subtags of 1–8 letters or digits (`fr`, `en-GB`, `zh-Hant-TW`).
pub fn language(field: &str, value: &str) -> Result<(), FieldError> {
    let mut parts = value.split('-');
    let primary_ok =
        parts.next().is_some_and(|p| (2..=3).contains(&p.len()) && p.chars().all(|c| c.is_ascii_lowercase()));
    let rest_ok = parts.all(|p| (1..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()));
    if primary_ok && rest_ok && value.len() <= 35 {
        Ok(())
    } else {
        Err(field_error(field, format!("'{value}' is not a BCP 47 language tag (for example fr, en-GB)")))
    }
}

/// An OpenPGP v4 fingerprint: 40 hex digits (spaces allowed between groups).
pub fn openpgp_fingerprint(field: &str, value: &str) -> Result<(), FieldError> {
    let hex: String = value.chars().filter(|c| !c.is_whitespace()).collect();
    if hex.len() == 40 && hex.chars().all(|c| c.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(field_error(field, "is not a 40-hex-digit OpenPGP fingerprint"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_good_values() {
        assert!(email("e", "cert@ssi.gouv.fr").is_ok());
        assert!(phone("p", "+33 1 71 75 84 68").is_ok());
        assert!(timezone("t", "Europe/Paris").is_ok());
        assert!(language("l", "fr").is_ok());
        assert!(language("l", "en-GB").is_ok());
        assert!(openpgp_fingerprint("f", "0123 4567 89AB CDEF 0123  4567 89AB CDEF 0123 4567").is_ok());
    }

    #[test]
    fn refuses_bad_values_with_the_field_name() {
        assert_eq!(email("emails[0]", "nobody").unwrap_err().field, "emails[0]");
        assert!(email("e", "a@b").is_err());
        assert!(phone("p", "01 23 45 67 89").is_err());
        assert!(phone("p", "+12").is_err());
        assert!(timezone("t", "Mars/Olympus").is_err());
        assert!(language("l", "French").is_err());
        assert!(text("t", "   ", 10).is_err());
        assert!(text("t", "bell\u{7}", 10).is_err());
        assert!(text("t", &"x".repeat(11), 10).is_err());
    }
}
