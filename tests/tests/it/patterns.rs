//! The patterns the OpenAPI document gives text fields, text query parameters and the tenant
//! header say exactly what the server accepts: a client (or a fuzzer) keeping to a pattern is
//! never refused for that text, and one breaking it always is. Each pattern, taken from the
//! served document, is run with the `regex` crate against the parser or the live server over
//! the first 12,545 code points and the characters regex dialects disagree on as whitespace.

use regex::Regex;
use serde_json::Value;
use tenantry_service::cluster::Node;
use tenantry_service::values::{Description, Name};
use tenantry_tests::TestApp;

/// Every character a pattern could treat differently: ASCII, Latin-1, the Unicode spaces and
/// separators up to U+3100, and the characters some dialects count as whitespace and Rust does
/// not (U+180E, U+FEFF), or the last one.
fn characters() -> impl Iterator<Item = char> {
    (0..=0x3100).chain([0x180e, 0xfeff, 0x10_ffff]).filter_map(char::from_u32)
}

/// Short texts built around each character: alone, doubled, and beside a letter on each side.
fn texts() -> Vec<String> {
    let mut texts: Vec<String> =
        ["", " ", "  ", "\u{3000}\u{a0}", "a b", "Widget"].map(str::to_owned).to_vec();
    for c in characters() {
        texts.extend([format!("{c}"), format!("{c}{c}"), format!("a{c}"), format!("{c}a"), format!(" {c} ")]);
    }
    texts
}

fn pattern_of(field: &Value) -> Regex {
    let pattern = field["pattern"].as_str().unwrap_or_else(|| panic!("no pattern: {field}"));
    Regex::new(pattern).unwrap_or_else(|e| panic!("{pattern}: {e}"))
}

async fn document() -> Value {
    TestApp::spawn().await.get("/openapi.json", None).await.body
}

#[tokio::test]
async fn a_display_name_matches_its_pattern_exactly_when_the_parser_takes_it() {
    let doc = document().await;
    let schemas = &doc["components"]["schemas"];
    let name = &schemas["CreateProduct"]["properties"]["name"];
    // One pattern wherever a display name is taken, the import's `?name=` too.
    let import = doc["paths"]["/tenants/import"]["post"]["parameters"]
        .as_array()
        .and_then(|params| params.iter().find(|p| p["name"] == "name"))
        .expect("the import's name parameter");
    for other in [
        &schemas["UpdateProduct"]["properties"]["name"],
        &schemas["CreateTenant"]["properties"]["name"],
        &schemas["UpdateTenant"]["properties"]["name"],
        &import["schema"],
    ] {
        assert_eq!(other["pattern"], name["pattern"], "{other}");
    }
    let pattern = pattern_of(name);
    for text in texts() {
        let parsed = Name::parse("name", text.clone());
        assert_eq!(pattern.is_match(&text), parsed.is_ok(), "{text:?}: {parsed:?}");
    }
}

#[tokio::test]
async fn a_description_matches_its_pattern_exactly_when_the_parser_takes_it() {
    let doc = document().await;
    let schemas = &doc["components"]["schemas"];
    let description = &schemas["CreateProduct"]["properties"]["description"];
    assert_eq!(schemas["UpdateProduct"]["properties"]["description"]["pattern"], description["pattern"]);
    let pattern = pattern_of(description);
    for text in texts() {
        let parsed = Description::parse(text.clone());
        assert_eq!(pattern.is_match(&text), parsed.is_ok(), "{text:?}: {parsed:?}");
    }
}

#[tokio::test]
async fn a_node_matches_its_pattern_exactly_when_the_parser_takes_it() {
    let doc = document().await;
    let pattern = pattern_of(&doc["components"]["schemas"]["MoveTenant"]["properties"]["node"]);
    let mut nodes: Vec<String> =
        ["", ":", "h", "h:", ":80", "h:+80", "h:-1", "h: 80", "h :80", "fe80::1:5432", "a:b:c"]
            .map(str::to_owned)
            .to_vec();
    for port in
        [0, 1, 9, 10, 99, 100, 999, 1000, 9999, 10_000, 59_999, 60_000, 64_999, 65_000, 65_499, 65_500]
    {
        nodes.push(format!("h:{port}"));
    }
    for port in [65_529, 65_530, 65_535, 65_536, 65_539, 65_540, 65_599, 65_600, 69_999, 99_999, 100_000] {
        nodes.push(format!("h:{port}"));
    }
    nodes.extend(["h:0080", "h:00000", "h:065535", "h:065536"].map(str::to_owned));
    nodes.extend([255, 256].map(|n| format!("{}:5432", "a".repeat(n))));
    nodes.extend(characters().map(|c| format!("x{c}y:5432")));
    for node in nodes {
        let parsed = Node::parse(&node);
        assert_eq!(pattern.is_match(&node), parsed.is_ok(), "{node:?}: {parsed:?}");
    }
}

#[tokio::test]
async fn the_tenant_header_is_refused_400_exactly_when_it_breaks_its_pattern() {
    let app = TestApp::spawn().await;
    app.create_tenant("acme").await;
    let key = app.key_of("acme").expect("a key");
    let doc = app.get("/openapi.json", None).await.body;
    let header = doc["paths"]["/products"]["get"]["parameters"]
        .as_array()
        .and_then(|params| params.iter().find(|p| p["name"] == "X-Tenant"))
        .expect("the tenant header parameter");
    let pattern = pattern_of(&header["schema"]);
    // Every byte a header value may carry (reqwest sends no other), between two letters, as
    // the text a client's pattern check sees (bytes above 0x7f as Latin-1), and a list.
    let mut values: Vec<Vec<u8>> =
        (0x20..=0xff_u8).chain([b'\t']).filter(|&b| b != 0x7f).map(|b| vec![b'a', b, b'z']).collect();
    values.extend([b"acme".to_vec(), b"acme,acme".to_vec(), b"other".to_vec()]);
    for value in values {
        let text: String = value.iter().map(|&b| char::from(b)).collect();
        let header = reqwest::header::HeaderValue::from_bytes(&value).expect("a header value");
        let request = app.client.get(app.url("/products")).bearer_auth(&key).header("X-Tenant", header);
        let status = app.send_raw(request).await.status;
        assert_eq!(status != 400, pattern.is_match(&text), "{text:?}: {status}");
        let expected = if text == "acme" { 200 } else { 403 };
        if status != 400 {
            assert_eq!(status, expected, "{text:?}");
        }
    }
}

#[tokio::test]
async fn a_text_query_parameter_is_refused_400_exactly_when_it_breaks_its_pattern() {
    let app = TestApp::spawn().await;
    app.create_tenant("acme").await;
    let doc = app.get("/openapi.json", None).await.body;
    let parameter = |path: &str, name: &str| {
        let params = doc["paths"][path]["get"]["parameters"].as_array().expect("parameters");
        pattern_of(&params.iter().find(|p| p["name"] == name).expect("the parameter")["schema"])
    };
    // (route, parameter, who asks: a tenant's key, or the admin token)
    for (path, name, tenant) in
        [("/products", "q", Some("acme")), ("/audit", "tenant", None), ("/audit", "action", None)]
    {
        let pattern = parameter(path, name);
        for value in ["widget", "", "a b", "a\u{0}b", "\u{0}", "tab\there", "\u{7f}\u{85}\u{3000}"] {
            let request = app.client.get(app.url(path)).query(&[(name, value)]);
            let status = app.send(request, tenant).await.status;
            assert_eq!(status != 400, pattern.is_match(value), "{path}?{name}={value:?}: {status}");
            assert!(status == 400 || status == 200, "{path}?{name}={value:?}: {status}");
        }
    }
}
