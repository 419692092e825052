use lingua::{Language, LanguageDetectorBuilder};
use std::collections::BTreeMap;
use std::io::Read;
use std::time::Instant;

fn code(l: Language) -> &'static str {
    match l {
        Language::English => "en",
        Language::Chinese => "zh",
        Language::Japanese => "ja",
        Language::Korean => "ko",
        Language::German => "de",
        Language::French => "fr",
        Language::Spanish => "es",
        Language::Portuguese => "pt",
        Language::Italian => "it",
        Language::Russian => "ru",
        Language::Swedish => "sv",
        Language::Dutch => "nl",
        _ => "?",
    }
}

fn what(l: whatlang::Lang) -> &'static str {
    use whatlang::Lang::*;
    match l {
        Eng => "en",
        Cmn => "zh",
        Jpn => "ja",
        Kor => "ko",
        Deu => "de",
        Fra => "fr",
        Spa => "es",
        Por => "pt",
        Ita => "it",
        Rus => "ru",
        Swe => "sv",
        Nld => "nl",
        _ => "other",
    }
}

fn main() {
    let mut s = String::new();
    std::io::stdin().read_to_string(&mut s).unwrap();
    let rows: Vec<(&str, &str, &str)> = s
        .lines()
        .filter_map(|l| {
            let mut p = l.splitn(3, '\t');
            Some((p.next()?, p.next()?, p.next()?))
        })
        .collect();
    let lingua = LanguageDetectorBuilder::from_all_languages().build();
    let reps = 200;
    for name in ["whatlang", "lingua"] {
        let mut ok: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
        let t = Instant::now();
        for _ in 0..reps {
            for (lang, kind, text) in &rows {
                let got = match name {
                    "whatlang" => whatlang::detect(text)
                        .map(|i| what(i.lang()))
                        .unwrap_or("none"),
                    _ => lingua.detect_language_of(*text).map(code).unwrap_or("none"),
                };
                let e = ok.entry(kind).or_default();
                e.1 += 1;
                if got == *lang {
                    e.0 += 1;
                }
            }
        }
        let per = t.elapsed().as_secs_f64() * 1e6 / (reps * rows.len()) as f64;
        let acc: Vec<String> = ok
            .iter()
            .map(|(k, (a, n))| format!("{k} {:.1}% of {}", 100.0 * *a as f64 / *n as f64, n / reps))
            .collect();
        println!("{name}: {} ; {per:.1} us per text", acc.join(", "));
    }
    for (lang, kind, text) in &rows {
        let w = whatlang::detect(text)
            .map(|i| what(i.lang()))
            .unwrap_or("none");
        let l = lingua.detect_language_of(*text).map(code).unwrap_or("none");
        if w != *lang || l != *lang {
            println!("  {lang} {kind}: whatlang {w} lingua {l}: {text}");
        }
    }
}
