//! QR codes and printable cards (issue 10): every code drawn decodes back to the exact
//! landing URL. SVGs are rasterised from their own path data, PNGs read as they are, PDFs
//! rasterised by poppler's `pdftoppm` (installed by `scripts/ensure-tools.sh`); the
//! decoder is rqrr, which knows nothing of the encoder.

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::http::{Method, StatusCode, header};
use bondhu::render::cards::{PARCEL_LINE, RIDER_LINE};
use image::{GrayImage, Luma};
use serde_json::json;
use sqlx::PgPool;

use crate::helpers::{TestApp, TestResponse, test_config};

const PUBLIC_URL: &str = "https://bondhu.example";

async fn app(pool: PgPool) -> TestApp {
    TestApp::with_config(
        pool,
        test_config(&[("PUBLIC_URL", PUBLIC_URL), ("SHOP_NAME", "Dhaka Bazar")]),
    )
    .await
}

/// Every QR code rqrr finds in `image`, decoded.
fn decode_all(image: GrayImage) -> Vec<String> {
    let mut prepared = rqrr::PreparedImage::prepare(image);
    prepared
        .detect_grids()
        .into_iter()
        .map(|grid| grid.decode().expect("a QR grid that does not decode").1)
        .collect()
}

/// Every QR code on a rasterised sheet. rqrr groups finder patterns into codes by their
/// alignment, and on a sheet of identical codes in a grid the finder patterns of
/// neighbouring codes line up too: it then reports grids spanning several cards and
/// misses codes. So the sheet is first cut as a person would cut it, at blank bands (rows,
/// then columns, where almost nothing is printed: crop marks are hairlines), and each
/// piece is decoded with a white margin around it. A cut never runs through a code: a
/// band must be wider than two rows of modules, and no two neighbouring module rows of
/// a code are blank.
fn decode_sheet(image: &GrayImage) -> Vec<String> {
    let mut codes = Vec::new();
    for (top, bottom) in blank_cuts(image.height(), |y| {
        (0..image.width())
            .filter(|&x| image.get_pixel(x, y).0[0] < 128)
            .count()
    }) {
        for (left, right) in blank_cuts(image.width(), |x| {
            (top..bottom)
                .filter(|&y| image.get_pixel(x, y).0[0] < 128)
                .count()
        }) {
            const MARGIN: u32 = 40;
            let (w, h) = (right - left, bottom - top);
            let mut piece = GrayImage::from_pixel(w + 2 * MARGIN, h + 2 * MARGIN, Luma([255]));
            image::imageops::replace(
                &mut piece,
                &image::imageops::crop_imm(image, left, top, w, h).to_image(),
                MARGIN.into(),
                MARGIN.into(),
            );
            codes.extend(decode_all(piece));
        }
    }
    codes
}

/// The stretches of `0..len` between blank bands: lines with at most a few dark pixels
/// (a crop mark's hairline), at least 12 lines wide (two module rows at 150 dpi are 10).
fn blank_cuts(len: u32, dark_pixels: impl Fn(u32) -> usize) -> Vec<(u32, u32)> {
    const MIN_BAND: u32 = 12;
    const HAIRLINES: usize = 16;
    let blank: Vec<bool> = (0..len).map(|i| dark_pixels(i) <= HAIRLINES).collect();
    let mut pieces = Vec::new();
    let mut start = None;
    let mut run = 0;
    for i in 0..len {
        if blank[i as usize] {
            run += 1;
            if run == MIN_BAND
                && let Some(begin) = start.take()
            {
                pieces.push((begin, i + 1 - MIN_BAND));
            }
        } else {
            run = 0;
            start.get_or_insert(i);
        }
    }
    if let Some(begin) = start {
        pieces.push((begin, len));
    }
    pieces
}

/// The one QR code in `image`.
#[track_caller]
fn decode_one(image: GrayImage) -> String {
    let mut codes = decode_all(image);
    assert_eq!(codes.len(), 1, "{codes:?}");
    codes.remove(0)
}

/// Rasterises one of our QR SVGs from its own markup, 10 pixels per unit: the white
/// `<rect>` background over the `viewBox`, then every subpath of the `<path>`, each of
/// which must be an axis-aligned rectangle (`M x y h w v 1 h -w z`). Whatever the SVG
/// draws is what gets decoded; nothing is taken from the encoder.
fn rasterise_svg(svg: &str) -> GrayImage {
    const SCALE: u32 = 10;
    let attr = |name: &str| {
        let start = svg.find(&format!(" {name}=\"")).expect(name) + name.len() + 3;
        &svg[start..start + svg[start..].find('"').unwrap()]
    };
    let view_box: Vec<u32> = attr("viewBox")
        .split(' ')
        .map(|n| n.parse().unwrap())
        .collect();
    assert_eq!(view_box[..2], [0, 0]);
    let side = view_box[2];
    assert_eq!(view_box[3], side);
    assert!(
        svg.contains(&format!(
            r##"<rect width="{side}" height="{side}" fill="#fff"/>"##
        )),
        "a white background over the whole code"
    );
    let mut image = GrayImage::from_pixel(side * SCALE, side * SCALE, Luma([255]));
    let d = {
        let start = svg.find(r##"<path fill="#000" d=""##).unwrap() + 21;
        &svg[start..start + svg[start..].find('"').unwrap()]
    };
    // Tokens: a command letter, then its numbers.
    let mut tokens = Vec::new();
    let mut number = String::new();
    for c in d.chars() {
        if c.is_ascii_digit() || c == '-' || c == '.' {
            number.push(c);
        } else {
            if !number.is_empty() {
                tokens.push(std::mem::take(&mut number));
            }
            if c.is_ascii_alphabetic() {
                tokens.push(c.to_string());
            }
        }
    }
    if !number.is_empty() {
        tokens.push(number);
    }
    let mut rects = 0;
    let mut tokens = tokens.iter().peekable();
    let num = |t: Option<&String>| t.unwrap().parse::<i64>().unwrap();
    while let Some(command) = tokens.next() {
        assert_eq!(command, "M", "each subpath starts with M");
        let (x0, y0) = (num(tokens.next()), num(tokens.next()));
        let (mut x, mut y) = (x0, y0);
        let mut corners = vec![(x, y)];
        loop {
            match tokens.next().map(String::as_str) {
                Some("h") => x += num(tokens.next()),
                Some("v") => y += num(tokens.next()),
                Some("H") => x = num(tokens.next()),
                Some("V") => y = num(tokens.next()),
                Some("z" | "Z") => break,
                other => panic!("unexpected path command {other:?}"),
            }
            corners.push((x, y));
        }
        assert_eq!(corners.len(), 4, "a rectangle: {corners:?}");
        let (xs, ys): (Vec<i64>, Vec<i64>) = corners.iter().copied().unzip();
        let (left, right) = (*xs.iter().min().unwrap(), *xs.iter().max().unwrap());
        let (top, bottom) = (*ys.iter().min().unwrap(), *ys.iter().max().unwrap());
        for px in (left as u32 * SCALE)..(right as u32 * SCALE) {
            for py in (top as u32 * SCALE)..(bottom as u32 * SCALE) {
                image.put_pixel(px, py, Luma([0]));
            }
        }
        rects += 1;
    }
    assert!(rects > 50, "{rects} rectangles");
    image
}

/// A scratch file of this test process.
fn scratch(extension: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    std::env::temp_dir().join(format!(
        "bondhu-cards-{}-{}.{extension}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ))
}

/// Runs a poppler tool on `pdf` (`{pdf}` in `args` is the file) and returns its stdout.
fn poppler(tool: &str, args: &[&str], pdf: &[u8]) -> String {
    let file = scratch("pdf");
    std::fs::write(&file, pdf).unwrap();
    let path = file.to_str().unwrap();
    let args: Vec<&str> = args
        .iter()
        .map(|a| if *a == "{pdf}" { path } else { a })
        .collect();
    let output = Command::new(tool)
        .args(&args)
        .output()
        .unwrap_or_else(|e| panic!("{tool} (scripts/ensure-tools.sh installs it): {e}"));
    std::fs::remove_file(&file).ok();
    assert!(
        output.status.success(),
        "{tool}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// Page `page` of `pdf` at 150 dpi, as a print shop's proof would be.
fn rasterise_page(pdf: &[u8], page: u32) -> GrayImage {
    let out = scratch("page");
    let page = page.to_string();
    poppler(
        "pdftoppm",
        &[
            "-r",
            "150",
            "-png",
            "-gray",
            "-singlefile",
            "-f",
            &page,
            "-l",
            &page,
            "{pdf}",
            out.to_str().unwrap(),
        ],
        pdf,
    );
    // -singlefile names the image after the root, without a page number.
    let png = PathBuf::from(format!("{}.png", out.display()));
    let image = image::open(&png).unwrap().to_luma8();
    std::fs::remove_file(&png).ok();
    image
}

fn pages(pdf: &[u8]) -> u32 {
    let info = poppler("pdfinfo", &["{pdf}"], pdf);
    info.lines()
        .find_map(|line| line.strip_prefix("Pages:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// The first page's text as `pdftotext` reads it back (through the ToUnicode maps and
/// ActualText krilla writes), without whitespace. Spaces are pdftotext's guess from
/// glyph positions, and it guesses one after a vowel sign placed under its conjunct
/// (বন্ধু দের): the characters and their order are what the PDF holds, the spaces are
/// not.
fn text_of(pdf: &[u8]) -> String {
    squeeze(&poppler(
        "pdftotext",
        &["-f", "1", "-l", "1", "{pdf}", "-"],
        pdf,
    ))
}

fn squeeze(text: &str) -> String {
    text.chars().filter(|c| !c.is_whitespace()).collect()
}

#[track_caller]
fn assert_file(response: &TestResponse, content_type: &str) {
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    assert_eq!(response.headers[header::CONTENT_TYPE], content_type);
    assert_eq!(response.headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert!(response.headers.contains_key(header::CACHE_CONTROL));
}

/// A delivery rider partner with `code`; returns its id.
async fn partner(app: &TestApp, code: &str, partner_type: &str) -> String {
    let created = app
        .post(
            "/api/loyalty/referral-partners",
            &app.admin_token(),
            json!({ "code": code, "partnerType": partner_type, "name": "Rahim" }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    created.body["id"].as_str().unwrap().to_owned()
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn share_qr_codes_decode_to_the_landing_url(pool: PgPool) {
    let app = app(pool).await;
    let customer = app.customer("01711400001", None).await;
    let token = app.customer_token(customer);
    let code = app.get("/api/loyalty/me/referral-code", &token).await.body["referralCode"]
        .as_str()
        .unwrap()
        .to_owned();
    let landing = format!("{PUBLIC_URL}/r/{code}?ch=qr");

    let mine_svg = app.get("/api/loyalty/me/qr.svg", &token).await;
    assert_file(&mine_svg, "image/svg+xml");
    assert_eq!(
        mine_svg.headers[header::CACHE_CONTROL],
        "private, max-age=86400"
    );
    let svg = std::str::from_utf8(&mine_svg.bytes).unwrap();
    assert!(
        svg.contains(r#"width="512" height="512""#),
        "the default size"
    );
    assert_eq!(decode_one(rasterise_svg(svg)), landing);

    let mine_png = app.get("/api/loyalty/me/qr.png", &token).await;
    assert_file(&mine_png, "image/png");
    let png = image::load_from_memory(&mine_png.bytes).unwrap().to_luma8();
    assert!(png.width() <= 512 && png.width() > 400, "{}", png.width());
    assert_eq!(decode_one(png), landing);

    // Staff reach any customer's; the customer reaches their own by id too; ?size= sets
    // the size.
    for token in [app.staff_token("support-agent"), token.clone()] {
        let svg = app
            .get(
                &format!("/api/loyalty/referral-code/{customer}/qr.svg?size=256"),
                &token,
            )
            .await;
        assert_file(&svg, "image/svg+xml");
        let svg = std::str::from_utf8(&svg.bytes).unwrap();
        assert!(svg.contains(r#"width="256" height="256""#));
        assert_eq!(decode_one(rasterise_svg(svg)), landing);

        let png = app
            .get(
                &format!("/api/loyalty/referral-code/{customer}/qr.png?size=2048"),
                &token,
            )
            .await;
        assert_file(&png, "image/png");
        let png = image::load_from_memory(&png.bytes).unwrap().to_luma8();
        assert!(png.width() <= 2048 && png.width() > 1900, "{}", png.width());
        assert_eq!(decode_one(png), landing);
    }
    // A scan lands: the landing page counts the click as the QR channel.
    let scanned = app
        .request(Method::GET, &landing[PUBLIC_URL.len()..], None, None)
        .await;
    assert_eq!(scanned.status, StatusCode::FOUND, "{}", scanned.body);
    assert!(
        scanned.headers[header::LOCATION]
            .to_str()
            .unwrap()
            .contains("referralChannel=qr")
    );
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn qr_codes_are_guarded_and_sizes_checked(pool: PgPool) {
    let app = app(pool).await;
    let owner = app.customer("01711400011", None).await;
    let other = app.customer("01711400012", None).await;
    let other_token = app.customer_token(other);
    for format in ["svg", "png"] {
        let path = format!("/api/loyalty/referral-code/{owner}/qr.{format}");
        app.request(Method::GET, &path, None, None)
            .await
            .assert_error(StatusCode::UNAUTHORIZED, "unauthenticated");
        app.request(
            Method::GET,
            &format!("/api/loyalty/me/qr.{format}"),
            None,
            None,
        )
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "unauthenticated");
        // Another customer's code is refused, not drawn.
        app.get(&path, &other_token)
            .await
            .assert_error(StatusCode::FORBIDDEN, "forbidden");
        // Staff without view-mlm-reports, and staff on /me, are refused.
        app.get(&path, &app.staff_token("order-desk"))
            .await
            .assert_error(StatusCode::FORBIDDEN, "forbidden");
        app.get(&format!("/api/loyalty/me/qr.{format}"), &app.admin_token())
            .await
            .assert_error(StatusCode::FORBIDDEN, "forbidden");
        app.get(
            &format!("/api/loyalty/referral-code/999999/qr.{format}"),
            &app.admin_token(),
        )
        .await
        .assert_error(StatusCode::NOT_FOUND, "customer_not_found");
        app.get(
            &format!("/api/loyalty/referral-code/nope/qr.{format}"),
            &app.admin_token(),
        )
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_path_parameter");
        for size in ["0", "127", "2049", "-5", "big", "1e3"] {
            app.get(&format!("{path}?size={size}"), &app.admin_token())
                .await
                .assert_error(StatusCode::BAD_REQUEST, "invalid_query");
            app.get(
                &format!("/api/loyalty/me/qr.{format}?size={size}"),
                &app.customer_token(owner),
            )
            .await
            .assert_error(StatusCode::BAD_REQUEST, "invalid_query");
        }
    }
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn rider_cards_decode_to_the_riders_landing_url(pool: PgPool) {
    let app = app(pool).await;
    let rider = partner(&app, "RIDER01", "delivery_rider").await;
    let landing = format!("{PUBLIC_URL}/r/RIDER01?ch=delivery_card");
    let admin = app.admin_token();

    let sheet = app
        .get(
            &format!("/api/loyalty/rider-cards.pdf?partnerId={rider}&count=10"),
            &admin,
        )
        .await;
    assert_file(&sheet, "application/pdf");
    assert_eq!(sheet.headers[header::CACHE_CONTROL], "no-store");
    assert!(
        sheet.headers[header::CONTENT_DISPOSITION]
            .to_str()
            .unwrap()
            .ends_with(".pdf\"")
    );
    let pdf = &sheet.bytes[..];
    assert_eq!(pages(pdf), 2, "10 cards, eight to a sheet");
    let first = decode_sheet(&rasterise_page(pdf, 1));
    assert_eq!(first.len(), 8, "{first:?}");
    assert!(first.iter().all(|url| *url == landing), "{first:?}");
    let second = decode_sheet(&rasterise_page(pdf, 2));
    assert_eq!(second, vec![landing.clone(), landing.clone()]);

    // The text is shaped Bangla, not boxes: it reads back as the exact characters, and
    // the Bengali font is embedded.
    let text = text_of(pdf);
    assert!(text.contains(&squeeze(RIDER_LINE)), "{text}");
    assert!(text.contains("রেফারেলকোড"), "{text}");
    assert!(
        text.contains("RIDER01") && text.contains("DhakaBazar"),
        "{text}"
    );
    let fonts = poppler("pdffonts", &["{pdf}"], pdf);
    for font in ["NotoSansBengali-Regular", "NotoSans-Bold"] {
        let line = fonts
            .lines()
            .find(|line| line.contains(font))
            .unwrap_or_else(|| panic!("{font} is not in the PDF:\n{fonts}"));
        // Embedded, subset, with a ToUnicode map.
        assert!(line.contains("yes yes yes"), "{line}");
    }

    // The default is 10; 25 cards take four sheets; the largest batch is 500.
    let default = app
        .get(
            &format!("/api/loyalty/rider-cards.pdf?partnerId={rider}"),
            &admin,
        )
        .await;
    assert_eq!(pages(&default.bytes), 2);
    let twenty_five = app
        .get(
            &format!("/api/loyalty/rider-cards.pdf?partnerId={rider}&count=25"),
            &admin,
        )
        .await;
    assert_file(&twenty_five, "application/pdf");
    assert_eq!(pages(&twenty_five.bytes), 4);
    let last = decode_sheet(&rasterise_page(&twenty_five.bytes, 4));
    assert_eq!(last, vec![landing.clone()], "25 = 3 × 8 + 1");
    let started = std::time::Instant::now();
    let most = app
        .get(
            &format!("/api/loyalty/rider-cards.pdf?partnerId={rider}&count=500"),
            &admin,
        )
        .await;
    assert_file(&most, "application/pdf");
    assert_eq!(pages(&most.bytes), 63);
    // The card is written once and placed 500 times.
    assert!(most.bytes.len() < 200_000, "{} bytes", most.bytes.len());
    assert!(started.elapsed().as_secs() < 10, "{:?}", started.elapsed());
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn rider_cards_are_refused_for_other_partners_and_bad_counts(pool: PgPool) {
    let app = app(pool).await;
    let rider = partner(&app, "RIDER02", "delivery_rider").await;
    let influencer = partner(&app, "RupaBeauty", "influencer").await;
    let retired = partner(&app, "RIDER03", "delivery_rider").await;
    let deactivated = app
        .put(
            &format!("/api/loyalty/referral-partners/{retired}"),
            &app.admin_token(),
            json!({ "isActive": false }),
        )
        .await;
    assert_eq!(deactivated.status, StatusCode::OK, "{}", deactivated.body);
    let admin = app.admin_token();
    let cards = |query: String| format!("/api/loyalty/rider-cards.pdf?{query}");

    app.get(
        &cards(format!("partnerId={}", uuid::Uuid::new_v4())),
        &admin,
    )
    .await
    .assert_error(StatusCode::NOT_FOUND, "partner_not_found");
    app.get(&cards(format!("partnerId={influencer}")), &admin)
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "partner_not_rider");
    app.get(&cards(format!("partnerId={retired}")), &admin)
        .await
        .assert_error(StatusCode::CONFLICT, "partner_inactive");
    for query in [
        format!("partnerId={rider}&count=0"),
        format!("partnerId={rider}&count=501"),
        format!("partnerId={rider}&count=ten"),
        format!("partnerId={rider}&count=-1"),
        "count=10".to_owned(),
        "partnerId=RIDER02".to_owned(),
    ] {
        app.get(&cards(query), &admin)
            .await
            .assert_error(StatusCode::BAD_REQUEST, "invalid_query");
    }

    // Only staff who manage partners print cards.
    let customer = app.customer("01711400021", None).await;
    let path = cards(format!("partnerId={rider}"));
    app.request(Method::GET, &path, None, None)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "unauthenticated");
    for token in [
        app.customer_token(customer),
        app.staff_token("support-agent"),
        app.staff_token("order-desk"),
    ] {
        app.get(&path, &token)
            .await
            .assert_error(StatusCode::FORBIDDEN, "forbidden");
    }
    let manager = app.get(&path, &app.staff_token("marketing-manager")).await;
    assert_file(&manager, "application/pdf");
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn a_parcel_card_carries_the_recipients_own_code(pool: PgPool) {
    let app = app(pool).await;
    let customer = app.customer("01711400031", None).await;
    let recorded = app.order(4201, customer, "shipped").await;
    assert_eq!(recorded.status, StatusCode::OK, "{}", recorded.body);
    let code = app
        .get(
            "/api/loyalty/me/referral-code",
            &app.customer_token(customer),
        )
        .await
        .body["referralCode"]
        .as_str()
        .unwrap()
        .to_owned();

    let card = app
        .get(
            "/api/orders/4201/referral-card.pdf",
            &app.staff_token("order-desk"),
        )
        .await;
    assert_file(&card, "application/pdf");
    let pdf = &card.bytes[..];
    assert_eq!(pages(pdf), 1);
    assert_eq!(
        decode_one(rasterise_page(pdf, 1)),
        format!("{PUBLIC_URL}/r/{code}?ch=delivery_card")
    );
    let text = text_of(pdf);
    assert!(text.contains(&squeeze(PARCEL_LINE)), "{text}");
    assert!(text.contains(&code), "{text}");

    // The shop's system prints it with its API key too.
    let key = bondhu::auth::api_key::generate();
    bondhu::db::api_keys::insert(
        &app.pool,
        "packing",
        &key.prefix,
        &key.hash,
        &["edit-sales-orders".to_owned()],
    )
    .await
    .unwrap();
    let with_key = app
        .raw_with_api_key(
            Method::GET,
            "/api/orders/4201/referral-card.pdf",
            &key.key,
            None,
        )
        .await;
    assert_file(&with_key, "application/pdf");

    // An unknown order, an order without a customer, a customer deleted since.
    let desk = app.staff_token("order-desk");
    app.get("/api/orders/999999/referral-card.pdf", &desk)
        .await
        .assert_error(StatusCode::NOT_FOUND, "order_not_found");
    let guestless = app
        .put("/api/orders/4202", &desk, json!({ "status": "pending" }))
        .await;
    assert_eq!(guestless.status, StatusCode::OK, "{}", guestless.body);
    app.get("/api/orders/4202/referral-card.pdf", &desk)
        .await
        .assert_error(StatusCode::CONFLICT, "order_has_no_customer");
    sqlx::query!(
        "update customers set is_deleted = true where id = $1",
        customer
    )
    .execute(&app.pool)
    .await
    .unwrap();
    app.get("/api/orders/4201/referral-card.pdf", &desk)
        .await
        .assert_error(StatusCode::NOT_FOUND, "customer_not_found");

    // Customers and staff without edit-sales-orders are refused.
    let other = app.customer("01711400032", None).await;
    app.get(
        "/api/orders/4201/referral-card.pdf",
        &app.customer_token(other),
    )
    .await
    .assert_error(StatusCode::FORBIDDEN, "forbidden");
    app.get(
        "/api/orders/4201/referral-card.pdf",
        &app.staff_token("marketing-manager"),
    )
    .await
    .assert_error(StatusCode::FORBIDDEN, "forbidden");
    app.request(
        Method::GET,
        "/api/orders/4201/referral-card.pdf",
        None,
        None,
    )
    .await
    .assert_error(StatusCode::UNAUTHORIZED, "unauthenticated");
}
