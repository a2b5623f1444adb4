//! Verified email domains: the domains an organization has proven it owns. A user an identity
//! provider creates with an email there is linked to the platform member that already has that
//! email (the seeds' "existing users are matched by email"); an email anywhere else never links,
//! so an identity provider cannot take over an account by claiming its address.

/// The domains as stored on the organization row: lowercase, one per line.
pub fn from_stored(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|domain| !domain.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The stored form of `domains` (already lowercase and distinct).
pub fn to_stored(domains: &[String]) -> String {
    domains.join("\n")
}

/// Whether `address` (an email, or an email-shaped user name) is in one of `domains`:
/// its part after the last `@`, compared without case.
pub fn is_verified(address: &str, domains: &[String]) -> bool {
    match address.rsplit_once('@') {
        Some((local, domain)) if !local.is_empty() => domains
            .iter()
            .any(|verified| verified.eq_ignore_ascii_case(domain.trim())),
        _ => false,
    }
}

/// Of `addresses`, those in a verified domain, lowercase and distinct: the addresses a new
/// SCIM user may be linked by.
pub fn linkable<'a>(
    addresses: impl IntoIterator<Item = &'a str>,
    domains: &[String],
) -> Vec<String> {
    let mut out: Vec<String> = addresses
        .into_iter()
        .filter(|address| is_verified(address, domains))
        .map(|address| address.trim().to_lowercase())
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// A user's account email among `emails` (value, primary): the primary one, else the first.
pub fn account_email<'a>(emails: impl IntoIterator<Item = (&'a str, bool)>) -> Option<&'a str> {
    let mut first = None;
    for (value, primary) in emails {
        if primary {
            return Some(value);
        }
        first.get_or_insert(value);
    }
    first
}

/// Whether SCIM may change a user's account email from `old` to `new` in an organization with
/// `domains` verified: always without verified domains (the organization has not asked for
/// it), else only to an address in one of them. Dropping the email, or keeping it (whatever
/// its case), is no change. The refusal says why.
pub fn check_account_email_change(
    old: Option<&str>,
    new: Option<&str>,
    domains: &[String],
) -> Result<(), String> {
    match new {
        _ if domains.is_empty() => Ok(()),
        None => Ok(()),
        Some(new) if old.is_some_and(|old| old.trim().eq_ignore_ascii_case(new.trim())) => Ok(()),
        Some(new) if is_verified(new, domains) => Ok(()),
        Some(new) => Err(format!(
            "{new:?}: an identity provider may change a user's account email only to an \
             address in the organization's verified domains ({})",
            domains.join(", ")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_addresses_in_verified_domains_link() {
        let domains = from_stored("acme.com\nacme.io\n");
        assert_eq!(domains, ["acme.com", "acme.io"]);
        assert_eq!(to_stored(&domains), "acme.com\nacme.io");
        assert!(is_verified("Ada@ACME.com", &domains));
        assert!(!is_verified("ada@evil-acme.com", &domains));
        assert!(!is_verified("ada@sub.acme.com", &domains));
        assert!(!is_verified("acme.com", &domains));
        assert!(!is_verified("@acme.com", &domains));
        // the domain is what follows the last @ (a quoted local part may hold one)
        assert!(!is_verified("\"x@acme.com\"@gmail.com", &domains));
        assert_eq!(
            linkable(["Ada@Acme.com", "ada@acme.com", "ada@gmail.com"], &domains),
            ["ada@acme.com"]
        );
        assert!(linkable(["ada@acme.com"], &[]).is_empty());
    }

    #[test]
    fn account_emails_change_only_within_verified_domains() {
        let domains = from_stored("acme.com");
        assert_eq!(
            account_email([("a@x.com", false), ("b@acme.com", true)]),
            Some("b@acme.com")
        );
        assert_eq!(account_email([("a@x.com", false)]), Some("a@x.com"));
        assert_eq!(account_email([]), None);
        let check = |old, new| check_account_email_change(old, new, &domains);
        assert!(check(Some("ada@gmail.com"), Some("ada@acme.com")).is_ok());
        assert!(check(Some("ada@gmail.com"), Some("ADA@gmail.com")).is_ok());
        assert!(check(Some("ada@acme.com"), None).is_ok());
        assert!(check(None, Some("ada@acme.com")).is_ok());
        let refused = check(Some("ada@acme.com"), Some("ada@gmail.com")).unwrap_err();
        assert!(refused.contains("acme.com"), "{refused}");
        assert!(check(None, Some("ada@gmail.com")).is_err());
        assert!(check_account_email_change(Some("a@x.com"), Some("b@y.com"), &[]).is_ok());
    }
}
