//! Request fields turned into typed values, each refused with the same `INVALID_ARGUMENT`
//! wherever it appears: UUIDs, page requests, durations.

use crate::status;
use std::time::Duration;
use tonic::Status;
use uuid::Uuid;

/// The default page size of list calls.
pub(crate) const DEFAULT_PAGE_SIZE: u32 = 100;
/// The largest page size of list calls.
pub(crate) const MAX_PAGE_SIZE: u32 = 1000;

/// One page of a list call: `page_size` is already defaulted and bounded (1..=1000);
/// `page_token` is opaque to this crate and validated by the backend that issued it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    /// Items per page.
    pub page_size: u32,
    /// Empty for the first page.
    pub page_token: String,
}

/// Parses a required UUID request field.
pub(crate) fn parse_uuid(field: &str, value: &str) -> Result<Uuid, Status> {
    if value.is_empty() {
        return Err(status::invalid_argument(field, "is required"));
    }
    Uuid::try_parse(value).map_err(|_| status::invalid_argument(field, "is not a valid UUID"))
}

/// An optional UUID field: empty means absent.
pub(crate) fn optional_uuid(field: &str, value: &str) -> Result<Option<Uuid>, Status> {
    if value.is_empty() {
        Ok(None)
    } else {
        parse_uuid(field, value).map(Some)
    }
}

/// Defaults and bounds a page request.
pub(crate) fn page_request(page_size: i32, page_token: String) -> Result<PageRequest, Status> {
    let page_size = match u32::try_from(page_size) {
        Ok(0) => DEFAULT_PAGE_SIZE,
        Ok(size) if size <= MAX_PAGE_SIZE => size,
        _ => {
            return Err(status::invalid_argument(
                "page_size",
                "must be between 0 and 1000",
            ));
        }
    };
    Ok(PageRequest {
        page_size,
        page_token,
    })
}

/// An optional, non-negative duration field.
pub(crate) fn duration(
    field: &str,
    value: Option<prost_types::Duration>,
) -> Result<Option<Duration>, Status> {
    let Some(value) = value else {
        return Ok(None);
    };
    Duration::try_from(value)
        .map(Some)
        .map_err(|_| status::invalid_argument(field, "must be a non-negative duration"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Code;

    #[test]
    fn page_sizes_are_defaulted_and_bounded() {
        assert_eq!(page_request(0, String::new()).unwrap().page_size, 100);
        assert_eq!(page_request(1000, String::new()).unwrap().page_size, 1000);
        assert_eq!(
            page_request(1001, String::new()).unwrap_err().code(),
            Code::InvalidArgument
        );
        assert_eq!(
            page_request(-1, String::new()).unwrap_err().code(),
            Code::InvalidArgument
        );
    }

    #[test]
    fn negative_durations_are_rejected_and_zero_is_kept() {
        let zero = prost_types::Duration {
            seconds: 0,
            nanos: 0,
        };
        assert_eq!(
            duration("grace_period", Some(zero)).unwrap(),
            Some(Duration::ZERO)
        );
        assert_eq!(duration("grace_period", None).unwrap(), None);
        let negative = prost_types::Duration {
            seconds: -5,
            nanos: 0,
        };
        let err = duration("grace_period", Some(negative)).unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
    }
}
