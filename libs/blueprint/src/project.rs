//! Where things live: the project's id and number, its region, and the public domain.
//!
//! Each type is a parsed value: `parse` is the only way in, so a `ProjectNumber` is always
//! digits and a `Region` always has Google's `area-direction1` shape.

use std::fmt;
use std::str::FromStr;

use crate::error::InvalidValue;

/// True for the characters Google allows in project ids, service names and similar resource ids.
fn is_lower_alnum_or_hyphen(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'
}

/// Google's common rule for resource ids: lowercase letters, digits and hyphens, starting with a
/// letter, not ending with a hyphen, `min..=max` characters long.
pub(crate) fn is_resource_id(s: &str, min: usize, max: usize) -> bool {
    (min..=max).contains(&s.len())
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && !s.ends_with('-')
        && s.chars().all(is_lower_alnum_or_hyphen)
}

/// Implements `as_str`, `Display`, `AsRef<str>` and `FromStr` for a `String` newtype whose
/// inherent `parse(&str) -> Result<Self, InvalidValue>` is the only constructor.
macro_rules! text_newtype {
    ($name:ident) => {
        impl $name {
            /// The value as written.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::error::InvalidValue;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }
    };
}
pub(crate) use text_newtype;

/// A Google Cloud project id, e.g. `my-project`: 6 to 30 lowercase letters, digits or hyphens,
/// starting with a letter and not ending with a hyphen.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProjectId(String);

text_newtype!(ProjectId);

impl ProjectId {
    /// Parses a project id.
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        if is_resource_id(s, 6, 30) {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidValue::new(
                "a project id: 6 to 30 lowercase letters, digits or hyphens, starting with a \
                 letter and not ending with a hyphen",
                s,
            ))
        }
    }
}

/// A Google Cloud project number, e.g. `123456789012`: 6 to 19 digits, no leading zero.
///
/// It appears in IAP audiences, IAM resource names, service agents and run.app URLs. YAML may
/// give it quoted or not; both arrive here as text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProjectNumber(u64);

impl ProjectNumber {
    /// Parses a project number from its decimal text.
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        let well_formed = (6..=19).contains(&s.len())
            && s.bytes().all(|b| b.is_ascii_digit())
            && !s.starts_with('0');
        match s.parse::<u64>() {
            Ok(number) if well_formed => Ok(Self(number)),
            _ => Err(InvalidValue::new(
                "a project number: 6 to 19 digits, not starting with 0",
                s,
            )),
        }
    }

    /// The number itself.
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for ProjectNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for ProjectNumber {
    type Err = InvalidValue;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Short region codes in legacy `NAME-HASH-CODE.a.run.app` hosts, by region.
///
/// Google documents the codes only as App Engine's "REGION_ID" ("an abbreviated code that Google
/// assigns based on the region"); it publishes no table for Cloud Run. These pairs are read off
/// real run.app URLs: the endpoint table of GoogleCloudPlatform/gcping
/// (`https://<region>-bmlfzs4h6a-<code>.a.run.app`, one service per region) and a later copy of
/// it with newer regions. A region missing here is an error, never a guess.
const RUN_APP_REGION_CODES: &[(&str, &str)] = &[
    ("asia-east1", "de"),
    ("asia-east2", "df"),
    ("asia-northeast1", "an"),
    ("asia-northeast2", "dt"),
    ("asia-northeast3", "du"),
    ("asia-south1", "el"),
    ("asia-south2", "em"),
    ("asia-southeast1", "as"),
    ("asia-southeast2", "et"),
    ("australia-southeast1", "ts"),
    ("australia-southeast2", "km"),
    ("europe-central2", "lm"),
    ("europe-north1", "lz"),
    ("europe-southwest1", "no"),
    ("europe-west1", "ew"),
    ("europe-west12", "og"),
    ("europe-west2", "nw"),
    ("europe-west3", "ey"),
    ("europe-west4", "ez"),
    ("europe-west6", "oa"),
    ("europe-west8", "oc"),
    ("europe-west9", "od"),
    ("me-central1", "ww"),
    ("me-west1", "zf"),
    ("northamerica-northeast1", "nn"),
    ("northamerica-northeast2", "pd"),
    ("southamerica-east1", "rj"),
    ("southamerica-west1", "tl"),
    ("us-central1", "uc"),
    ("us-east1", "ue"),
    ("us-east4", "uk"),
    ("us-east5", "ul"),
    ("us-south1", "vp"),
    ("us-west1", "uw"),
    ("us-west2", "wl"),
    ("us-west3", "wm"),
    ("us-west4", "wn"),
];

/// The regions whose run.app code is known, for error messages.
pub(crate) const KNOWN_RUN_APP_REGIONS: [&str; RUN_APP_REGION_CODES.len()] = {
    let mut names = [""; RUN_APP_REGION_CODES.len()];
    let mut i = 0;
    while i < names.len() {
        names[i] = RUN_APP_REGION_CODES[i].0;
        i += 1;
    }
    names
};

/// A Google Cloud region, e.g. `us-central1`: lowercase words joined by hyphens, the last one
/// ending in digits.
///
/// Any region of that shape parses; only [`Region::run_app_code`] needs the region to be known.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Region(String);

text_newtype!(Region);

impl Region {
    /// Parses a region name.
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        let mut words = s.split('-').peekable();
        let mut count = 0;
        let mut well_formed = s.len() <= 63;
        while let Some(word) = words.next() {
            count += 1;
            well_formed &= if words.peek().is_some() {
                !word.is_empty() && word.bytes().all(|b| b.is_ascii_lowercase())
            } else {
                let letters = word.trim_end_matches(|c: char| c.is_ascii_digit());
                !letters.is_empty()
                    && letters.len() < word.len()
                    && letters.bytes().all(|b| b.is_ascii_lowercase())
            };
        }
        if well_formed && count >= 2 {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidValue::new(
                "a region such as us-central1: lowercase words joined by hyphens, the last \
                 ending in digits",
                s,
            ))
        }
    }

    /// The short code legacy run.app hosts use for this region (`us-central1` -> `uc`), or
    /// `None` when the crate does not know it.
    pub fn run_app_code(&self) -> Option<&'static str> {
        RUN_APP_REGION_CODES
            .iter()
            .find(|(region, _)| *region == self.0)
            .map(|(_, code)| *code)
    }
}

/// A fully qualified DNS name in lowercase, e.g. `api.myawesomeapp.com`: at least two labels of
/// 1 to 63 letters, digits or hyphens, no label starting or ending with a hyphen, 253 characters
/// at most, no trailing dot.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Domain(String);

text_newtype!(Domain);

impl Domain {
    /// Parses a domain name.
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        let labels: Vec<&str> = s.split('.').collect();
        let label_ok = |label: &&str| {
            (1..=63).contains(&label.len())
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(is_lower_alnum_or_hyphen)
        };
        let top_level_is_not_numeric = labels
            .last()
            .is_some_and(|tld| !tld.bytes().all(|b| b.is_ascii_digit()));
        if s.len() <= 253
            && labels.len() >= 2
            && labels.iter().all(label_ok)
            && top_level_is_not_numeric
        {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidValue::new(
                "a lowercase DNS name such as api.example.com: two or more labels of letters, \
                 digits or hyphens, no trailing dot",
                s,
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_ids_follow_resource_manager_rules() {
        for good in ["my-project", "abcdef", "a23456789012345678901234567890"] {
            assert!(ProjectId::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "short",
            "My-project",
            "1project",
            "my-project-",
            "my_project",
            "a234567890123456789012345678901",
        ] {
            assert!(ProjectId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn project_numbers_are_six_to_nineteen_digits() {
        assert_eq!(
            ProjectNumber::parse("123456789012").map(ProjectNumber::get),
            Ok(123_456_789_012)
        );
        assert!(ProjectNumber::parse("9999999999999999999").is_ok());
        for bad in [
            "12345",
            "12345678901234567890",
            "0123456789",
            "12345a",
            "-123456",
            "+123456",
            " 123456",
            "",
        ] {
            assert!(ProjectNumber::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn regions_have_google_shape() {
        for good in [
            "us-central1",
            "europe-west12",
            "northamerica-northeast1",
            "mars-north1",
        ] {
            assert!(Region::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "us-central",
            "uscentral1",
            "US-central1",
            "us-central1-a",
            "-us1",
            "",
        ] {
            assert!(Region::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn run_app_codes_come_from_the_table_and_unknown_regions_get_none() {
        let code = |r: &str| Region::parse(r).ok().and_then(|r| r.run_app_code());
        assert_eq!(code("us-central1"), Some("uc"));
        assert_eq!(code("us-east1"), Some("ue"));
        assert_eq!(code("us-east4"), Some("uk"));
        assert_eq!(code("us-west1"), Some("uw"));
        assert_eq!(code("europe-west1"), Some("ew"));
        assert_eq!(code("europe-west2"), Some("nw"));
        assert_eq!(code("asia-northeast1"), Some("an"));
        assert_eq!(code("asia-east1"), Some("de"));
        assert_eq!(code("mars-north1"), None);
    }

    #[test]
    fn run_app_code_table_has_no_duplicate_regions_or_codes() {
        let mut regions: Vec<_> = RUN_APP_REGION_CODES.iter().map(|(r, _)| r).collect();
        let mut codes: Vec<_> = RUN_APP_REGION_CODES.iter().map(|(_, c)| c).collect();
        regions.sort();
        regions.dedup();
        codes.sort();
        codes.dedup();
        assert_eq!(regions.len(), RUN_APP_REGION_CODES.len());
        assert_eq!(codes.len(), RUN_APP_REGION_CODES.len());
    }

    #[test]
    fn domains_are_lowercase_fqdns() {
        for good in ["api.myawesomeapp.com", "a.b", "x-1.example.co.uk"] {
            assert!(Domain::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "localhost",
            "API.example.com",
            "api.example.com.",
            "-api.example.com",
            "api..example.com",
            "api_x.example.com",
            "10.0.0.1",
            "api.example.com:443",
            "",
        ] {
            assert!(Domain::parse(bad).is_err(), "{bad}");
        }
    }
}
