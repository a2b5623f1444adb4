//! OAuth token request parsing: the bytes before the first NUL are the Authorization header,
//! the rest the form body. No panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scim_edge::oauth::{Params, token_request};

fuzz_target!(|data: &[u8]| {
    let (authorization, form) = match data.iter().position(|b| *b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (&[][..], data),
    };
    let mut headers = http::HeaderMap::new();
    if let Ok(value) = http::HeaderValue::from_bytes(authorization) {
        headers.insert(http::header::AUTHORIZATION, value);
    }
    if let Ok(params) = Params::from_form(form) {
        let _ = token_request(&headers, &params);
    }
});
