//! The shell of the edge's server-rendered pages (the OAuth consent page, the setup portal):
//! one stylesheet, the document frame and the headers every page is sent with.
//!
//! maud builds the HTML at compile time and escapes every interpolated value, so names chosen
//! by a tenant cannot inject markup. The headers forbid framing (clickjacking), caching and any
//! resource from elsewhere.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};

/// One stylesheet for every page: readable at phone width (one column below 40rem), system
/// fonts, colours with at least 4.5:1 contrast.
const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;\
padding:0 1rem;color:#1b1f24;line-height:1.45}h1{font-size:1.4rem}h2{font-size:1.15rem;\
margin-top:1.8rem}dl{display:grid;grid-template-columns:auto 1fr;gap:.4rem 1rem}dt{color:#57606a}\
dd{margin:0;font-weight:600;overflow-wrap:anywhere}label{display:block;margin:1rem 0 .3rem}\
input,select{width:100%;padding:.5rem;font-size:1rem;box-sizing:border-box}.actions{margin-top:\
1rem;display:flex;gap:.8rem;flex-wrap:wrap}button{padding:.55rem 1.2rem;font-size:1rem;\
cursor:pointer}.primary{background:#0b5cd5;color:#fff;border:0;border-radius:4px}.danger{\
background:#b3261e;color:#fff;border:0;border-radius:4px}.error{background:#ffebe9;border:1px \
solid #cf222e;padding:.7rem;border-radius:4px}.notice{background:#dafbe1;border:1px solid #1a7f37;\
padding:.7rem;border-radius:4px}.warn{background:#fff8c5;border:1px solid #9a6700;padding:.7rem;\
border-radius:4px}.note{color:#57606a;font-size:.9rem}code,.secret{overflow-wrap:anywhere;\
font-family:ui-monospace,monospace}.secret{display:block;padding:.6rem;background:#f6f8fa;\
border:1px solid #d0d7de;border-radius:4px}table{border-collapse:collapse;width:100%}th,td{\
text-align:left;padding:.4rem .5rem;border-bottom:1px solid #d0d7de;vertical-align:top}nav ul{\
list-style:none;padding:0;display:flex;gap:1rem;flex-wrap:wrap}nav a{color:#0b5cd5}a{color:#0b5cd5}\
ol li{margin:.35rem 0}.visually-hidden{position:absolute;width:1px;height:1px;\
overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}.inline{display:inline}@media(max-width:40rem){table,thead,tbody,tr,th,td{\
display:block}thead{display:none}td{border:0;padding:.15rem 0}tr{border-bottom:1px solid #d0d7de;\
padding:.5rem 0}dl{grid-template-columns:1fr}}";

/// The content security policy of pages whose forms post back to this origin. No `form-action`
/// on pages whose post is answered with a redirect to an identity provider: browsers apply it
/// to that redirect too.
pub(crate) const CSP_SELF_FORMS: &str = "default-src 'none'; style-src 'unsafe-inline'; \
script-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
/// The content security policy of the OAuth pages.
pub(crate) const CSP_OAUTH: &str =
    "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'";

/// A whole document: `title`, the stylesheet and `body`.
pub(crate) fn document(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) }
                style { (STYLE) }
            }
            body { (body) }
        }
    }
}

/// `markup` as an HTML response with the pages' headers and `csp`.
pub(crate) fn respond(status: StatusCode, markup: Markup, csp: &'static str) -> Response {
    let mut response = (status, markup.into_string()).into_response();
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_TYPE, "text/html; charset=utf-8"),
        (header::CACHE_CONTROL, "no-store"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::CONTENT_SECURITY_POLICY, csp),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}
