//! Documents as Parquet parts (`--format parquet`): `docs/part-SSSSS-NNNNN.parquet`, committed
//! like the JSONL parts (written whole, fsynced, renamed) and read back by every reader of OUT
//! as the same JSON lines, so a run, a rerun, `cat`, `stats` and `dedup` see one kind of part.
//!
//! The columns are the document's fields with their JSON names; spans are lists of structs,
//! `stats.dropped` and `stats.pii` maps, and `meta` (whose keys differ from manifest to
//! manifest) a JSON string. DuckDB, Polars, pandas and HF `datasets` read the files as they are.

use std::sync::{Arc, OnceLock};

use arrow_array::RecordBatch;
use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use crate::doc::Document;
use crate::error::{Error, Result};

fn f(name: &str, t: DataType, nullable: bool) -> Field {
    Field::new(name, t, nullable)
}

fn list_of(fields: Vec<Field>) -> DataType {
    DataType::List(Arc::new(Field::new(
        "item",
        DataType::Struct(Fields::from(fields)),
        true,
    )))
}

fn map_of(value: DataType) -> DataType {
    DataType::Map(
        Arc::new(Field::new(
            "entries",
            DataType::Struct(Fields::from(vec![
                f("keys", DataType::Utf8, false),
                f("values", value, true),
            ])),
            false,
        )),
        false,
    )
}

/// The Arrow schema of a document. Every field of [`Document`] must be here: the round-trip
/// test fills every field and compares.
pub fn schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            use DataType::*;
            let span = |extra: Vec<Field>| {
                let mut v = vec![
                    f("start", Float64, false),
                    f("end", Float64, false),
                    f("text", Utf8, false),
                ];
                v.extend(extra);
                list_of(v)
            };
            let stats = vec![
                f("speech_s", Float64, true),
                f("words", UInt64, true),
                f("dropped", map_of(UInt64), true),
                f("asr_windows", UInt64, true),
                f("asr_passes", UInt64, true),
                f("asr_packed_windows", UInt64, true),
                f("language_probability", Float64, true),
                f(
                    "audio",
                    Struct(Fields::from(vec![
                        f("codec", Utf8, true),
                        f("channels", UInt32, true),
                        f("sample_rate", UInt32, true),
                    ])),
                    true,
                ),
                f("has_video", Boolean, true),
                f("keyframes", UInt64, true),
                f("ocr_frames", UInt64, true),
                f(
                    "skipped_subtitle_streams",
                    List(Arc::new(Field::new("item", Utf8, true))),
                    true,
                ),
                f(
                    "caption_band",
                    List(Arc::new(Field::new("item", Float64, true))),
                    true,
                ),
                f("caption_frames", UInt64, true),
                f("caption_reads", UInt64, true),
                f("caption_agreement", Float64, true),
                f("asr_mean_logprob", Float64, true),
                f("speech_ratio", Float64, true),
                f("words_per_minute", Float64, true),
                f("source_languages", map_of(Utf8), true),
                f("pii", map_of(UInt64), true),
            ];
            Arc::new(Schema::new(vec![
                f("id", Utf8, false),
                f("source", Utf8, false),
                f("duration_s", Float64, false),
                f("language", Utf8, true),
                f("text", Utf8, false),
                f(
                    "speech",
                    span(vec![
                        f("avg_logprob", Float64, true),
                        f("no_speech_prob", Float64, true),
                        f("compression_ratio", Float64, true),
                        f("temperature", Float64, true),
                        f("caption_agreement", Float64, true),
                    ]),
                    true,
                ),
                f(
                    "screen_text",
                    span(vec![f("confidence", Float64, true)]),
                    true,
                ),
                f(
                    "captions",
                    span(vec![
                        f("confidence", Float64, true),
                        f("language", Utf8, true),
                    ]),
                    true,
                ),
                f(
                    "watermarks",
                    span(vec![f("confidence", Float64, true)]),
                    true,
                ),
                f(
                    "subtitles",
                    span(vec![f("stream", UInt32, true), f("language", Utf8, true)]),
                    true,
                ),
                f("stats", Struct(Fields::from(stats)), true),
                f(
                    "pipeline",
                    Struct(Fields::from(vec![
                        f("version", Utf8, true),
                        f("asr_model", Utf8, true),
                        f("ocr_model", Utf8, true),
                        f("vad_model", Utf8, true),
                        f("config_hash", Utf8, true),
                    ])),
                    true,
                ),
                f("meta", Utf8, true),
            ]))
        })
        .clone()
}

/// The bytes of one Parquet part holding `docs` (zstd-compressed columns).
pub fn encode(docs: &[Document]) -> Result<Vec<u8>> {
    let schema = schema();
    let bad = |e: String| Error::format("a Parquet part being written", e);
    let rows: Vec<serde_json::Value> = docs
        .iter()
        .map(|d| {
            let mut v = serde_json::to_value(d).expect("documents serialise");
            // Manifest columns differ from input to input: one JSON string column.
            let meta = v.as_object_mut().and_then(|o| o.remove("meta"));
            if let Some(m) = meta.filter(|m| m.as_object().is_some_and(|o| !o.is_empty())) {
                v["meta"] = serde_json::Value::String(m.to_string());
            }
            v
        })
        .collect();
    let mut decoder = arrow_json::ReaderBuilder::new(schema.clone())
        .with_strict_mode(true)
        .build_decoder()
        .map_err(|e| bad(e.to_string()))?;
    decoder.serialize(&rows).map_err(|e| bad(e.to_string()))?;
    let batch: RecordBatch = decoder
        .flush()
        .map_err(|e| bad(e.to_string()))?
        .unwrap_or_else(|| RecordBatch::new_empty(schema.clone()));
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).expect("level 3")))
        .build();
    let mut bytes = Vec::new();
    let mut writer =
        ArrowWriter::try_new(&mut bytes, schema, Some(props)).map_err(|e| bad(e.to_string()))?;
    writer.write(&batch).map_err(|e| bad(e.to_string()))?;
    writer.close().map_err(|e| bad(e.to_string()))?;
    Ok(bytes)
}

/// The documents of a Parquet part as JSON lines (what the JSONL parts hold).
pub fn lines(path: &std::path::Path) -> Result<Vec<String>> {
    let bad = |e: String| Error::format(path, e);
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| bad(e.to_string()))?
        .build()
        .map_err(|e| bad(e.to_string()))?;
    let mut json = Vec::new();
    {
        let mut writer = arrow_json::LineDelimitedWriter::new(&mut json);
        for batch in reader {
            let batch = batch.map_err(|e| bad(e.to_string()))?;
            writer.write(&batch).map_err(|e| bad(e.to_string()))?;
        }
        writer.finish().map_err(|e| bad(e.to_string()))?;
    }
    let text = String::from_utf8(json).map_err(|e| bad(e.to_string()))?;
    text.lines()
        .map(|line| {
            let mut v: serde_json::Value =
                serde_json::from_str(line).map_err(|e| bad(e.to_string()))?;
            if let Some(meta) = v.get("meta").and_then(|m| m.as_str()).map(str::to_string) {
                v["meta"] = serde_json::from_str(&meta).map_err(|e| bad(e.to_string()))?;
            }
            // The JSON form of the document, as the JSONL parts have it.
            let doc: Document = serde_json::from_value(v).map_err(|e| bad(e.to_string()))?;
            Ok(serde_json::to_string(&doc).expect("documents serialise"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doc::{
        AudioInfo, Caption, PipelineInfo, ScreenText, SpeechSegment, Stats, SubtitleCue,
    };

    /// A document with every field filled, so a field missing from the schema shows.
    fn full() -> Document {
        let mut stats = Stats {
            speech_s: 10.5,
            words: 22,
            asr_windows: 1,
            asr_passes: 2,
            asr_packed_windows: 1,
            language_probability: Some(0.93),
            audio: Some(AudioInfo {
                codec: "flac".into(),
                channels: 2,
                sample_rate: 44_100,
            }),
            has_video: true,
            keyframes: 16,
            ocr_frames: 9,
            skipped_subtitle_streams: vec!["hdmv_pgs_subtitle".into()],
            caption_band: Some([0.8, 0.95]),
            caption_frames: 210,
            caption_reads: 31,
            caption_agreement: Some(0.9),
            asr_mean_logprob: Some(-0.3),
            speech_ratio: Some(0.95),
            words_per_minute: Some(125.7),
            ..Stats::default()
        };
        stats.dropped.insert("stock_phrase".into(), 1);
        stats.pii.insert("email".into(), 2);
        stats.source_languages.insert("speech".into(), "en".into());
        stats
            .source_languages
            .insert("captions".into(), "zh".into());
        let mut meta = serde_json::Map::new();
        meta.insert("title".into(), "a talk".into());
        meta.insert("tags".into(), serde_json::json!(["a", 1]));
        Document {
            id: "abc".into(),
            source: "talks/a.mp4".into(),
            duration_s: 11.0,
            language: Some("en".into()),
            text: "And so, my fellow Americans.".into(),
            speech: vec![SpeechSegment {
                start: 0.05,
                end: 8.05,
                text: "And so, my fellow Americans.".into(),
                avg_logprob: -0.34,
                no_speech_prob: 0.016,
                compression_ratio: 1.36,
                temperature: 0.2,
                caption_agreement: Some(0.75),
            }],
            screen_text: vec![ScreenText {
                start: 0.0,
                end: 16.0,
                text: "1024 x 768".into(),
                confidence: 0.97,
            }],
            captions: vec![Caption {
                start: 0.4,
                end: 1.2,
                text: "我进去帮他".into(),
                confidence: 0.99,
                language: Some("zh".into()),
            }],
            watermarks: vec![ScreenText {
                start: 0.0,
                end: 8.0,
                text: "好看视频".into(),
                confidence: 0.93,
            }],
            subtitles: vec![SubtitleCue {
                start: 0.5,
                end: 1.0,
                text: "oop\nboop".into(),
                stream: 2,
                language: Some("eng".into()),
            }],
            stats,
            pipeline: PipelineInfo {
                version: "0.4.0".into(),
                asr_model: Some("base".into()),
                ocr_model: Some("PP-OCRv4".into()),
                vad_model: None,
                config_hash: "1b13".into(),
            },
            meta,
        }
    }

    #[test]
    fn every_field_survives_the_round_trip() {
        let mut empty = full();
        empty.id = "def".into();
        empty.language = None;
        empty.speech.clear();
        empty.captions.clear();
        empty.stats = Stats::default();
        empty.meta.clear();
        let docs = vec![full(), empty];
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("part.parquet");
        std::fs::write(&path, encode(&docs).unwrap()).unwrap();
        let back: Vec<Document> = lines(&path)
            .unwrap()
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(back, docs);
    }
}
