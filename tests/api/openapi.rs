//! The OpenAPI document lists every answer the shared machinery can give.

use axum::http::{Method, StatusCode};
use serde_json::Value;
use sqlx::PgPool;

use crate::helpers::TestApp;

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn every_operation_documents_the_shared_answers(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let response = app
        .raw(Method::GET, "/api/openapi.json", None, None, None)
        .await;
    assert_eq!(response.status, StatusCode::OK);
    let doc = response.body;
    let shared = doc["components"]["responses"].as_object().unwrap();
    let mut operations = 0;
    let mut secured = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if !["get", "put", "post", "delete", "patch"].contains(&method.as_str()) {
                continue;
            }
            operations += 1;
            let responses = op["responses"].as_object().unwrap();
            let documents = |status: &str| {
                let response = &responses
                    .get(status)
                    .unwrap_or_else(|| panic!("{method} {path} does not document {status}"));
                // A shared answer is a reference to a response with the error envelope.
                if let Some(reference) = response["$ref"].as_str() {
                    let name = reference.rsplit('/').next().unwrap();
                    let shared = &shared[name];
                    assert_eq!(
                        shared["content"]["application/json"]["schema"]["$ref"],
                        "#/components/schemas/ErrorBody",
                        "{reference}"
                    );
                }
            };
            documents("503");
            documents("408");
            let needs_auth = op["security"].as_array().is_some_and(|s| {
                !s.is_empty() && s.iter().all(|r| r != &Value::Object(Default::default()))
            });
            if needs_auth {
                secured += 1;
                documents("401");
                documents("403");
            }
            if op.get("requestBody").is_some() {
                for status in ["400", "413", "415", "422"] {
                    documents(status);
                }
            }
            let params = op["parameters"].as_array().cloned().unwrap_or_default();
            if params.iter().any(|p| p["in"] == "path") {
                documents("400");
            }
            if params.iter().any(|p| p["in"] == "query") {
                documents("400");
                documents("422");
            }
        }
    }
    assert!(operations >= 50, "{operations} operations");
    assert!(secured >= 40, "{secured} secured operations");

    // Rate-limited public routes document 429.
    for (path, method) in [
        ("/api/customers/public", "post"),
        ("/api/customers/lookup", "get"),
        ("/api/auth/login", "post"),
        ("/api/referral-codes/{code}", "get"),
        ("/r/{code}", "get"),
    ] {
        assert!(
            doc["paths"][path][method]["responses"]["429"].is_object(),
            "{method} {path} does not document 429"
        );
    }
    // QR codes and cards are documented as the files they are, not as JSON.
    for (path, media, format) in [
        ("/api/loyalty/me/qr.svg", "image/svg+xml", None),
        ("/api/loyalty/me/qr.png", "image/png", Some("binary")),
        (
            "/api/loyalty/referral-code/{customerId}/qr.svg",
            "image/svg+xml",
            None,
        ),
        (
            "/api/loyalty/referral-code/{customerId}/qr.png",
            "image/png",
            Some("binary"),
        ),
        (
            "/api/loyalty/rider-cards.pdf",
            "application/pdf",
            Some("binary"),
        ),
        (
            "/api/orders/{orderId}/referral-card.pdf",
            "application/pdf",
            Some("binary"),
        ),
    ] {
        let content = doc["paths"][path]["get"]["responses"]["200"]["content"]
            .as_object()
            .unwrap_or_else(|| panic!("{path} documents no 200"));
        assert_eq!(content.keys().collect::<Vec<_>>(), [media], "{path}");
        assert_eq!(content[media]["schema"]["type"], "string", "{path}");
        if let Some(format) = format {
            assert_eq!(content[media]["schema"]["format"], format, "{path}");
        }
    }
    // An answer an operation documents itself is kept, not replaced by the shared one.
    let own = &doc["paths"]["/api/loyalty/referral-campaigns"]["post"]["responses"]["422"];
    assert_eq!(own["description"], "invalid_campaign, with fields");
}
