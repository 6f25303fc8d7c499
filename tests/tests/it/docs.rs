//! `/docs`: Swagger UI served from the binary, public, loading nothing from another host.

use tenantry_tests::TestApp;

#[tokio::test]
async fn the_docs_page_and_its_assets_are_served_without_credentials_and_name_no_other_host() {
    let app = TestApp::spawn().await;

    let page = app.client.get(app.url("/docs")).send().await.expect("answers");
    assert_eq!(page.status(), 200);
    assert!(page.headers()["content-type"].to_str().unwrap_or_default().starts_with("text/html"));
    let html = page.text().await.expect("a page");
    assert!(html.contains("<base href=\"/docs/\">") && html.contains("swagger-ui-bundle.js"), "{html}");
    assert!(!html.contains("http://") && !html.contains("https://"), "no other host: {html}");

    let initializer = app.client.get(app.url("/docs/swagger-initializer.js")).send().await.expect("answers");
    assert_eq!(initializer.status(), 200);
    let script = initializer.text().await.expect("a script");
    assert!(script.contains("/openapi.json"), "the page reads this API's document: {script}");
    for asset in ["swagger-ui-bundle.js", "swagger-ui-standalone-preset.js", "swagger-ui.css", "index.css"] {
        let response = app.client.get(app.url(&format!("/docs/{asset}"))).send().await.expect("answers");
        assert_eq!(response.status(), 200, "{asset}");
    }
    let missing = app.get("/docs/nothing.js", None).await;
    missing.assert_problem(404, "no docs asset");
}
