//! SCIM resource parsing: any JSON body read as a user and as a group, in every input mode.
//! No panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scim_edge::resource::InputMode;
use scim_edge::resource::group::{group_from_scim, member_ids};
use scim_edge::resource::user::user_from_scim;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(body) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    for mode in [InputMode::Request, InputMode::Patched, InputMode::Partial] {
        let _ = user_from_scim(&body, mode);
        let _ = group_from_scim(&body, mode);
    }
    let _ = member_ids(&body);
});
