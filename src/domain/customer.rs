//! What a customer's name and email may be: they are shown to the provider
//! (the agenda, webhooks) and, for a cancellation's reason, to the customer,
//! so nothing in them may hide or reorder what is displayed.

/// The longest name, in characters.
pub const NAME_MAX: usize = 200;
/// The longest email address, in bytes.
pub const EMAIL_MAX: usize = 254;

/// Why a customer's details were refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CustomerError {
    #[error(
        "customer.name must be 1 to {NAME_MAX} characters with at least one letter or digit, \
         and no control or bidirectional-override characters"
    )]
    Name,
    #[error("customer.email must be an email address")]
    Email,
}

/// Characters a name may not hold: controls, line and paragraph separators,
/// and the bidi embedding, override and isolate controls (U+202A..U+202E,
/// U+2066..U+2069), which reorder the text after them and so let a name
/// display as something else. The bidi marks (U+200E, U+200F, U+061C) are
/// allowed: each acts like one invisible strong letter, cannot reverse a
/// run of text, and right-to-left names pasted from other software carry them.
pub fn forbidden_in_name(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// A customer's `name` and `email` as given (each trimmed before the checks).
pub fn check_customer(name: &str, email: &str) -> Result<(), CustomerError> {
    let name = name.trim();
    // At least one letter or digit: a name made only of zero-width or
    // formatting characters would show as nothing to the provider.
    let visible = name.chars().any(char::is_alphanumeric);
    if !visible || name.chars().count() > NAME_MAX || name.chars().any(forbidden_in_name) {
        return Err(CustomerError::Name);
    }
    let email = email.trim();
    let well_formed = email.len() <= EMAIL_MAX
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.')
        })
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if !well_formed {
        return Err(CustomerError::Email);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_hide_or_reorder_text_and_malformed_emails_are_refused() {
        assert_eq!(check_customer(" Ada ", "ada@example.com"), Ok(()));
        assert_eq!(check_customer("\u{200f}عائشة", "a@b.co"), Ok(()), "a bidi mark is a letter's width");
        for name in ["", "   ", "\u{200b}", "a\u{202e}b", "a\nb", &"x".repeat(NAME_MAX + 1)] {
            assert_eq!(check_customer(name, "a@b.co"), Err(CustomerError::Name), "{name:?}");
        }
        for email in ["", "a", "a@b", "@b.co", "a@.co", "a@b.", "a b@c.co"] {
            assert_eq!(check_customer("Ada", email), Err(CustomerError::Email), "{email:?}");
        }
    }
}
