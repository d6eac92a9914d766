//! Text on the cards: the fonts Bondhu ships, runs by script, shaping and line breaking.
//!
//! Noto Sans Bengali has no Latin letters and Noto Sans no Bengali, so a line such as
//! "রেফারেল কোড: RIDER01" is split into runs ([`runs`]), each shaped by rustybuzz with the
//! font of its script ([`shape`]). Shaping is what turns ক + ্ + ষ into the one conjunct
//! glyph ক্ষ and places vowel signs such as ি before their consonant; drawing the
//! characters one by one would print boxes and broken clusters. krilla then embeds a subset
//! of each font with a ToUnicode map, so the PDF's text can be searched and copied.

use std::ops::Range;
use std::sync::LazyLock;

use krilla::geom::Point;
use krilla::surface::Surface;
use krilla::text::{Font, GlyphId, KrillaGlyph};

/// The fonts, compiled into the binary so a card prints the same on every machine
/// (licence: `assets/fonts/OFL.txt`).
static BENGALI_REGULAR: &[u8] = include_bytes!("../../assets/fonts/NotoSansBengali-Regular.ttf");
static BENGALI_BOLD: &[u8] = include_bytes!("../../assets/fonts/NotoSansBengali-Bold.ttf");
static LATIN_REGULAR: &[u8] = include_bytes!("../../assets/fonts/NotoSans-Regular.ttf");
static LATIN_BOLD: &[u8] = include_bytes!("../../assets/fonts/NotoSans-Bold.ttf");

/// Which font family a run of text is drawn with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Script {
    /// Bangla: Noto Sans Bengali.
    Bengali,
    /// Everything else (Latin letters, digits, punctuation): Noto Sans.
    Latin,
}

/// A font weight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Weight {
    /// Body text.
    Regular,
    /// The shop's name and the code.
    Bold,
}

/// One embedded font: krilla's handle, which draws and embeds it, and rustybuzz's face,
/// which shapes and measures with it. Both read the same bytes.
pub struct Face {
    pdf: Font,
    shaper: rustybuzz::Face<'static>,
    units_per_em: f32,
}

impl Face {
    fn load(data: &'static [u8]) -> Self {
        // The fonts are compiled in and covered by the tests: failing to read one is a
        // broken build, not a runtime condition.
        let shaper = rustybuzz::Face::from_slice(data, 0).expect("an embedded font parses");
        let pdf = Font::new(data.into(), 0).expect("an embedded font loads");
        Self {
            units_per_em: shaper.units_per_em() as f32,
            pdf,
            shaper,
        }
    }

    /// Whether the font has a glyph for `c`.
    pub fn covers(&self, c: char) -> bool {
        self.shaper.glyph_index(c).is_some_and(|g| g.0 != 0)
    }
}

static FACES: LazyLock<[Face; 4]> = LazyLock::new(|| {
    [
        Face::load(BENGALI_REGULAR),
        Face::load(BENGALI_BOLD),
        Face::load(LATIN_REGULAR),
        Face::load(LATIN_BOLD),
    ]
});

/// The font for `script` in `weight`.
pub fn face(script: Script, weight: Weight) -> &'static Face {
    let index = match (script, weight) {
        (Script::Bengali, Weight::Regular) => 0,
        (Script::Bengali, Weight::Bold) => 1,
        (Script::Latin, Weight::Regular) => 2,
        (Script::Latin, Weight::Bold) => 3,
    };
    &FACES[index]
}

/// What a character says about its run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    /// It belongs to this script.
    Strong(Script),
    /// It belongs to the cluster before it (ZWJ, ZWNJ, a combining mark): splitting it off
    /// would break the cluster, so it never starts a run.
    Joiner,
    /// Spaces and punctuation: drawn with a neighbour's font when that font has them.
    Neutral,
}

fn classify(c: char) -> Class {
    match c {
        // The Bengali block, taka sign and Bengali digits included.
        '\u{0980}'..='\u{09FF}' => Class::Strong(Script::Bengali),
        // The dandas are shared by the Indic scripts and live in Devanagari's block;
        // Noto Sans Bengali has them.
        '\u{0964}' | '\u{0965}' => Class::Strong(Script::Bengali),
        '\u{200C}' | '\u{200D}' | '\u{0300}'..='\u{036F}' => Class::Joiner,
        c if c.is_alphanumeric() => Class::Strong(Script::Latin),
        _ => Class::Neutral,
    }
}

/// A run of text to be drawn with one font.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run<'a> {
    /// The run's font family.
    pub script: Script,
    /// Its text.
    pub text: &'a str,
}

/// `text` split into runs by script. A space or punctuation mark joins the run before it
/// when that run's font has it, else the run after it, else it is drawn in Latin (Noto
/// Sans has nearly every punctuation mark); joiners and combining marks stay with the
/// character before them.
pub fn runs(text: &str) -> Vec<Run<'_>> {
    let chars: Vec<(usize, char, Class)> = text
        .char_indices()
        .map(|(i, c)| (i, c, classify(c)))
        .collect();
    let covers = |script: Script, c: char| face(script, Weight::Regular).covers(c);
    let mut scripts: Vec<Script> = Vec::with_capacity(chars.len());
    for (k, &(_, c, class)) in chars.iter().enumerate() {
        let script = match class {
            Class::Strong(script) => script,
            Class::Joiner => scripts.last().copied().unwrap_or(Script::Latin),
            Class::Neutral => {
                let before = scripts.last().copied();
                let after = chars[k + 1..]
                    .iter()
                    .find_map(|&(_, _, class)| match class {
                        Class::Strong(script) => Some(script),
                        _ => None,
                    });
                [before, after]
                    .into_iter()
                    .flatten()
                    .find(|&script| covers(script, c))
                    .unwrap_or(Script::Latin)
            }
        };
        scripts.push(script);
    }
    let mut runs: Vec<Run<'_>> = Vec::new();
    let mut start = 0;
    for k in 1..=chars.len() {
        if k == chars.len() || scripts[k] != scripts[start] {
            let end = chars.get(k).map_or(text.len(), |&(i, _, _)| i);
            runs.push(Run {
                script: scripts[start],
                text: &text[chars[start].0..end],
            });
            start = k;
        }
    }
    runs
}

/// The characters of `text` that no font Bondhu ships can draw (they would print as
/// boxes), for checking text such as `SHOP_NAME` before it reaches a card.
pub fn missing_glyphs(text: &str) -> Vec<char> {
    let mut missing: Vec<char> = runs(text)
        .iter()
        .flat_map(|run| {
            run.text
                .chars()
                .filter(move |&c| !c.is_whitespace() && classify(c) != Class::Joiner)
                .filter(move |&c| !face(run.script, Weight::Regular).covers(c))
        })
        .collect();
    missing.dedup();
    missing
}

/// A run shaped with its font: glyphs with advances and offsets in ems.
pub struct ShapedRun {
    face: &'static Face,
    text: String,
    glyphs: Vec<KrillaGlyph>,
    width_em: f32,
}

impl ShapedRun {
    /// The glyph ids, in drawing order (0 is `.notdef`, drawn as a box).
    pub fn glyph_ids(&self) -> Vec<u32> {
        self.glyphs.iter().map(|g| g.glyph_id.to_u32()).collect()
    }

    /// The run's text.
    pub fn text(&self) -> &str {
        &self.text
    }
}

/// A line of text, shaped: its runs in order.
pub struct Line {
    runs: Vec<ShapedRun>,
}

impl Line {
    /// The runs.
    pub fn runs(&self) -> &[ShapedRun] {
        &self.runs
    }

    /// Its advance width at `size` points.
    pub fn width(&self, size: f32) -> f32 {
        self.runs.iter().map(|r| r.width_em).sum::<f32>() * size
    }

    /// Draws the line with its baseline starting at (`x`, `baseline`), in the surface's
    /// current fill.
    pub fn draw(&self, surface: &mut Surface<'_>, x: f32, baseline: f32, size: f32) {
        let mut x = x;
        for run in &self.runs {
            surface.draw_glyphs(
                Point::from_xy(x, baseline),
                &run.glyphs,
                run.face.pdf.clone(),
                &run.text,
                size,
                false,
            );
            x += run.width_em * size;
        }
    }
}

/// Shapes `text` in `weight`: one run per script, each with its font.
pub fn shape(text: &str, weight: Weight) -> Line {
    Line {
        runs: runs(text)
            .into_iter()
            .map(|run| shape_run(run.text, face(run.script, weight)))
            .collect(),
    }
}

/// Shapes one run with rustybuzz, left to right. Each glyph keeps the byte range of its
/// cluster (a conjunct's glyph covers all its characters), which krilla turns into the
/// PDF's ToUnicode map, so copying the text gives the characters back.
fn shape_run(text: &str, face: &'static Face) -> ShapedRun {
    let mut buffer = rustybuzz::UnicodeBuffer::new();
    buffer.push_str(text);
    buffer.guess_segment_properties();
    buffer.set_direction(rustybuzz::Direction::LeftToRight);
    let output = rustybuzz::shape(&face.shaper, &[], buffer);
    let infos = output.glyph_infos();
    let positions = output.glyph_positions();
    let em = face.units_per_em;
    let mut glyphs = Vec::with_capacity(infos.len());
    let mut width_em = 0.0;
    for (i, (info, pos)) in infos.iter().zip(positions).enumerate() {
        let start = info.cluster as usize;
        // Left to right, clusters only grow: a cluster ends where the next one starts.
        let end = infos[i + 1..]
            .iter()
            .map(|next| next.cluster as usize)
            .find(|&next| next != start)
            .unwrap_or(text.len());
        let cluster: Range<usize> = start..end.max(start);
        let x_advance = pos.x_advance as f32 / em;
        width_em += x_advance;
        glyphs.push(KrillaGlyph::new(
            GlyphId::new(info.glyph_id),
            x_advance,
            pos.x_offset as f32 / em,
            pos.y_offset as f32 / em,
            pos.y_advance as f32 / em,
            cluster,
            None,
        ));
    }
    ShapedRun {
        face,
        text: text.to_owned(),
        glyphs,
        width_em,
    }
}

/// `text` broken into lines no wider than `max_width` points at `size`, at spaces (a word
/// wider than the line gets a line of its own), as few lines as possible and then as
/// even as possible: the narrowest width that still needs that many lines is used, so a
/// last line is not left with one word. Each line is shaped as a whole, so runs and
/// clusters are never split across lines.
pub fn wrap(text: &str, weight: Weight, size: f32, max_width: f32) -> Vec<Line> {
    let words: Vec<&str> = text.split_whitespace().collect();
    // Words are measured once: shaping does not reach across a space, so a line's width
    // is its words' widths and its spaces'.
    let widths: Vec<f32> = words
        .iter()
        .map(|word| shape(word, weight).width(size))
        .collect();
    let space = shape(" ", weight).width(size);
    let breaks = |limit: f32| {
        let mut lines: Vec<Vec<&str>> = Vec::new();
        let mut width = 0.0;
        for (word, &w) in words.iter().zip(&widths) {
            match lines.last_mut() {
                Some(line) if width + space + w <= limit => {
                    line.push(word);
                    width += space + w;
                }
                _ => {
                    lines.push(vec![word]);
                    width = w;
                }
            }
        }
        lines
    };
    let fewest = breaks(max_width).len();
    let (mut narrow, mut wide) = (0.0, max_width);
    for _ in 0..16 {
        let middle = (narrow + wide) / 2.0;
        if breaks(middle).len() <= fewest {
            wide = middle;
        } else {
            narrow = middle;
        }
    }
    breaks(wide)
        .into_iter()
        .map(|line| shape(&line.join(" "), weight))
        .collect()
}

/// The largest size up to `max_size` at which `text` fits in `max_width` points, and the
/// shaped line: a long shop name gets smaller type instead of running off the card.
pub fn fit(text: &str, weight: Weight, max_size: f32, max_width: f32) -> (Line, f32) {
    let line = shape(text, weight);
    let width_at_one = line.width(1.0);
    let size = if width_at_one > 0.0 {
        max_size.min(max_width / width_at_one)
    } else {
        max_size
    };
    (line, size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_conjunct_is_shaped_into_fewer_glyphs_and_no_boxes() {
        // ক + ্ + ষ is the conjunct ক্ষ; ন + ্ + ধ is ন্ধ; ত + ্ + র is ত্র.
        for conjunct in ["ক্ষ", "ন্ধ", "ত্র", "নিবন্ধন", "এক্ষুনি", "মাত্র"]
        {
            let line = shape(conjunct, Weight::Regular);
            assert_eq!(line.runs().len(), 1, "{conjunct}");
            let ids = line.runs()[0].glyph_ids();
            assert!(
                ids.len() < conjunct.chars().count(),
                "{conjunct}: {} glyphs for {} characters: not shaped",
                ids.len(),
                conjunct.chars().count()
            );
            assert!(!ids.contains(&0), "{conjunct}: .notdef (a box) in {ids:?}");
        }
    }

    #[test]
    fn a_vowel_sign_before_its_consonant_is_reordered() {
        // কি is ক then the vowel sign ি, which is drawn to the left of ক: the shaper puts
        // the sign's glyph first.
        let line = shape("কি", Weight::Regular);
        let ids = line.runs()[0].glyph_ids();
        let ka = shape("ক", Weight::Regular).runs()[0].glyph_ids()[0];
        assert_eq!(ids.len(), 2);
        assert_eq!(ids[1], ka, "{ids:?}");
    }

    #[test]
    fn mixed_text_is_split_by_script() {
        let runs = runs("রেফারেল কোড: RIDER01 (৳১০০)");
        let described: Vec<(Script, &str)> = runs.iter().map(|r| (r.script, r.text)).collect();
        // The Bengali font has the space and the colon, so they stay in its run.
        assert_eq!(
            described[0],
            (Script::Bengali, "রেফারেল কোড: "),
            "{described:?}"
        );
        assert!(
            described
                .iter()
                .any(|&(s, t)| s == Script::Latin && t.contains("RIDER01"))
        );
        assert!(
            described
                .iter()
                .any(|&(s, t)| s == Script::Bengali && t.contains("৳১০০"))
        );
        assert_eq!(
            runs.iter().map(|r| r.text).collect::<String>(),
            "রেফারেল কোড: RIDER01 (৳১০০)"
        );
    }

    #[test]
    fn every_character_of_the_card_texts_has_a_glyph() {
        for text in [
            super::super::cards::RIDER_LINE,
            super::super::cards::PARCEL_LINE,
            super::super::cards::CODE_LABEL,
            "TrustCart",
            "দোকান Bondhu — ৳১০০!",
        ] {
            for weight in [Weight::Regular, Weight::Bold] {
                for run in shape(text, weight).runs() {
                    assert!(
                        !run.glyph_ids().contains(&0),
                        "a box in {:?} ({weight:?})",
                        run.text()
                    );
                }
            }
        }
    }

    #[test]
    fn missing_glyphs_are_found() {
        assert!(missing_glyphs("দোকান Bondhu — ৳১০০!").is_empty());
        assert_eq!(missing_glyphs("百货 Shop"), vec!['百', '货']);
    }

    #[test]
    fn wrapping_keeps_every_word_and_the_width() {
        let text = super::super::cards::RIDER_LINE;
        let lines = wrap(text, Weight::Regular, 9.0, 120.0);
        assert!(lines.len() > 1);
        let widths: Vec<f32> = lines.iter().map(|line| line.width(9.0)).collect();
        for &width in &widths {
            assert!(width <= 120.0 + 0.01, "{widths:?}");
        }
        // Balanced: the last line is not a lone word.
        let shortest = widths.iter().copied().fold(f32::MAX, f32::min);
        let longest = widths.iter().copied().fold(0.0, f32::max);
        assert!(shortest > longest / 3.0, "{widths:?}");
        let joined: Vec<String> = lines
            .iter()
            .map(|l| l.runs().iter().map(ShapedRun::text).collect::<String>())
            .collect();
        assert_eq!(joined.join(" "), text);
    }
}
