//! Speech windows: which ranges of a video's 16 kHz audio go into each Whisper window, how a
//! time inside a window maps back onto the video's timeline, and how a second decoding pass cuts
//! the windows out of the samples as they stream by. Pure: no model, no FFmpeg.
//!
//! Windows are packed as faster-whisper packs them: the speech spans that voice activity
//! detection found follow each other in a window, the pauses between them cut out, until the
//! next span would make it longer than 30 s.

use vid2text_core::SAMPLE_RATE;

use crate::mel::N_SAMPLES;
use crate::SpeechSpan;

const SR: f64 = SAMPLE_RATE as f64;

/// The plan of one window: the ranges `(start, end)` of the original audio it is made of, in
/// order, and where speech starts in it (seconds from the window start).
#[derive(Debug, Clone, PartialEq)]
pub struct WindowPlan {
    pub ranges: Vec<(usize, usize)>,
    pub speech_starts: Vec<f64>,
}

impl WindowPlan {
    pub fn samples(&self) -> usize {
        self.ranges.iter().map(|(a, b)| b - a).sum()
    }
}

/// Plans the windows of a video from its speech spans: spans follow each other in a window, the
/// pauses between them cut out, until the next would make it longer than 30 s. A pause of up to
/// `max_gap` samples is kept as audio instead (it costs window space). A span longer than 30 s
/// is cut into 30 s pieces, each its own window.
pub fn plan_windows(spans: &[SpeechSpan], max_gap: usize) -> Vec<WindowPlan> {
    let mut plans: Vec<WindowPlan> = Vec::new();
    let mut fill = 0usize;
    for s in spans {
        let mut at = s.start;
        while at < s.end {
            let to = (at + N_SAMPLES).min(s.end);
            let len = to - at;
            let last_end = plans.last().and_then(|p| p.ranges.last()).map(|r| r.1);
            match (plans.last_mut(), last_end) {
                // Kept pause: the previous range grows over the pause and this span.
                (Some(p), Some(end))
                    if at >= end && at - end <= max_gap && fill + (to - end) <= N_SAMPLES =>
                {
                    p.speech_starts.push((fill + at - end) as f64 / SR);
                    p.ranges.last_mut().expect("a range").1 = to;
                    fill += to - end;
                }
                // Pause cut out: a new range in the same window.
                (Some(p), Some(_)) if fill + len <= N_SAMPLES => {
                    p.speech_starts.push(fill as f64 / SR);
                    p.ranges.push((at, to));
                    fill += len;
                }
                _ => {
                    plans.push(WindowPlan {
                        ranges: vec![(at, to)],
                        speech_starts: vec![0.0],
                    });
                    fill = len;
                }
            }
            at = to;
        }
    }
    plans
}

/// Windows without VAD: the whole audio in consecutive ranges of `len` samples, each walked by
/// the seek loop 30 s at a time.
pub fn plan_fixed_windows(total: usize, len: usize) -> Vec<WindowPlan> {
    (0..total)
        .step_by(len.max(1))
        .map(|s| WindowPlan {
            ranges: vec![(s, (s + len).min(total))],
            speech_starts: vec![],
        })
        .collect()
}

/// The samples of a planned window, cut from audio held in memory (ranges past its end are
/// cut short).
pub fn cut_window(audio: &[f32], plan: &WindowPlan) -> Vec<f32> {
    let mut out = Vec::with_capacity(plan.samples());
    for &(a, b) in &plan.ranges {
        out.extend_from_slice(&audio[a.min(audio.len())..b.min(audio.len())]);
    }
    out
}

/// Cuts planned windows out of audio that streams by in chunks (a second decoding pass of an
/// input too long to hold in memory): each window is handed out as soon as its last range is
/// complete, in plan order, so memory holds at most one window.
pub struct WindowCutter {
    plans: Vec<Option<WindowPlan>>,
    /// `(window, start, end)` of every range, in order.
    pieces: Vec<(usize, usize, usize)>,
    /// The next piece to fill.
    next: usize,
    /// Samples seen so far.
    pos: usize,
    current: Vec<f32>,
}

impl WindowCutter {
    pub fn new(plans: Vec<WindowPlan>) -> Self {
        let pieces = plans
            .iter()
            .enumerate()
            .flat_map(|(w, p)| p.ranges.iter().map(move |&(a, b)| (w, a, b)))
            .collect();
        WindowCutter {
            plans: plans.into_iter().map(Some).collect(),
            pieces,
            next: 0,
            pos: 0,
            current: Vec::new(),
        }
    }

    /// Takes the next chunk of samples; calls `done` with each window it completes (its plan
    /// and its samples). An error from `done` stops the cut and is returned.
    pub fn push<E>(
        &mut self,
        chunk: &[f32],
        done: &mut impl FnMut(WindowPlan, Vec<f32>) -> Result<(), E>,
    ) -> Result<(), E> {
        let (chunk_start, chunk_end) = (self.pos, self.pos + chunk.len());
        self.pos = chunk_end;
        while let Some(&(w, start, end)) = self.pieces.get(self.next) {
            if start >= chunk_end {
                break;
            }
            let (a, b) = (start.max(chunk_start), end.min(chunk_end));
            if a < b {
                self.current
                    .extend_from_slice(&chunk[a - chunk_start..b - chunk_start]);
            }
            if end > chunk_end {
                break; // the range goes on in the next chunk
            }
            self.next += 1;
            if self.pieces.get(self.next).is_none_or(|p| p.0 != w) {
                self.emit(w, done)?;
            }
        }
        Ok(())
    }

    /// The audio ended: a window still being cut (the audio was shorter than on the first pass)
    /// is handed out with what it has. Windows after it never started and are not.
    pub fn finish<E>(
        mut self,
        done: &mut impl FnMut(WindowPlan, Vec<f32>) -> Result<(), E>,
    ) -> Result<(), E> {
        match self.pieces.get(self.next) {
            Some(&(w, _, _)) => self.emit(w, done),
            None => Ok(()),
        }
    }

    fn emit<E>(
        &mut self,
        w: usize,
        done: &mut impl FnMut(WindowPlan, Vec<f32>) -> Result<(), E>,
    ) -> Result<(), E> {
        let plan = self.plans[w].take().expect("each window once");
        done(plan, std::mem::take(&mut self.current))
    }
}

/// A piece of a window: `len` samples of the original audio from `orig`, at sample `at` of
/// the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Piece {
    pub orig: usize,
    pub at: usize,
    pub len: usize,
}

/// How a window's samples map back onto the original timeline: its pieces, in order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WindowMap {
    pieces: Vec<Piece>,
}

/// How far (s) a segment may run into a neighbouring piece of its window without being taken
/// to hold words there: Whisper's segment ends often run on into the silence after them, and its
/// starts often begin where the previous segment ended, in the silence before the words (seen
/// 0.54 s before a cut on the JFK and LibriVox clips).
pub const RUN_ON_S: f64 = 1.0;

impl WindowMap {
    /// The map of a window made of the original ranges `ranges`, back to back.
    pub fn new(ranges: &[(usize, usize)]) -> Self {
        let mut pieces = Vec::with_capacity(ranges.len());
        let mut at = 0;
        for &(a, b) in ranges {
            pieces.push(Piece {
                orig: a,
                at,
                len: b - a,
            });
            at += b - a;
        }
        WindowMap { pieces }
    }

    /// Maps a segment `(start, end)` in window time onto the original timeline. A segment that
    /// runs across a cut pause (Whisper hears no pause there) starts in the first piece and ends
    /// in the last piece that it reaches more than [`RUN_ON_S`] into: its words are in those
    /// pieces, while an end (or start) that only runs on into a neighbour does not stretch it over
    /// the silence that was cut out. A segment inside one piece maps point by point.
    pub fn original_span(&self, start: f64, end: f64) -> (f64, f64) {
        let point_by_point = || {
            let s = self.original_time(start, false);
            (s, self.original_time(end.max(start), true).max(s))
        };
        if self.pieces.len() < 2 {
            return point_by_point();
        }
        let (a, b) = (
            (start.max(0.0) * SR) as usize,
            (end.max(start).max(0.0) * SR) as usize,
        );
        let overlap = |p: &Piece| (b.min(p.at + p.len)).saturating_sub(a.max(p.at));
        let run_on = (RUN_ON_S * SR) as usize;
        let mut held = self.pieces.iter().filter(|p| overlap(p) > run_on);
        let (first, last) = match held.next() {
            Some(f) => (f, held.next_back().unwrap_or(f)),
            // Short segments (or none over the run-on) keep the piece holding most of them.
            None => match self
                .pieces
                .iter()
                .filter(|p| overlap(p) > 0)
                .max_by_key(|p| overlap(p))
            {
                Some(m) => (m, m),
                None => return point_by_point(),
            },
        };
        let a = a.clamp(first.at, first.at + first.len);
        let b = b.clamp(last.at, last.at + last.len);
        let s = (first.orig + a - first.at) as f64 / SR;
        let e = (last.orig + b - last.at) as f64 / SR;
        (s, e.max(s))
    }

    /// Maps a time (s) within the window onto the original timeline. A time on the boundary of
    /// two pieces belongs to the later piece as a start and to the earlier one as an end, so a
    /// segment never starts or ends inside a pause that was cut out.
    pub fn original_time(&self, t: f64, is_end: bool) -> f64 {
        let x = (t.max(0.0) * SR).round() as usize;
        let piece = self
            .pieces
            .iter()
            .rev()
            .find(|p| if is_end { p.at < x } else { p.at <= x })
            .or(self.pieces.first());
        match piece {
            Some(p) => (p.orig + (x - x.min(p.at)).min(p.len)) as f64 / SR,
            None => t.max(0.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(secs: f64) -> usize {
        (secs * SR) as usize
    }

    #[test]
    fn windows_pack_spans_at_pauses() {
        let span = |a: f64, b: f64| SpeechSpan {
            start: s(a),
            end: s(b),
        };
        let spans = [
            span(1.0, 11.0),
            span(12.0, 22.0),
            span(30.0, 40.0),
            span(41.0, 75.0),
        ];
        // Pauses cut out: 1-11 + 12-22 (20 s), + 30-40 would make 30 s: fits; 41-71 is a 34 s
        // span cut at 30 s, 71-75 its rest.
        let plans = plan_windows(&spans, 0);
        let ranges: Vec<_> = plans.iter().map(|p| p.ranges.clone()).collect();
        assert_eq!(
            ranges,
            vec![
                vec![(s(1.0), s(11.0)), (s(12.0), s(22.0)), (s(30.0), s(40.0))],
                vec![(s(41.0), s(71.0))],
                vec![(s(71.0), s(75.0))],
            ]
        );
        assert_eq!(plans[0].speech_starts, vec![0.0, 10.0, 20.0]);
        assert_eq!(plans[0].samples(), s(30.0));
        // A 1 s pause kept (under 3 s): 1-22 as one range, then 30-40 no longer fits after it.
        let kept = plan_windows(&spans, 3 * SAMPLE_RATE);
        assert_eq!(kept[0].ranges, vec![(s(1.0), s(22.0))]);
        assert_eq!(kept[0].speech_starts, vec![0.0, 11.0]);
        assert_eq!(kept[1].ranges, vec![(s(30.0), s(40.0))]);
        assert_eq!(plan_fixed_windows(25, 10).len(), 3);
        assert!(plan_windows(&[], 0).is_empty());
    }

    /// The second pass gives the same windows as cutting the whole audio in memory, whatever
    /// the chunk size (ranges split across chunks, several windows in one chunk).
    #[test]
    fn the_cutter_matches_cutting_in_memory() {
        let audio: Vec<f32> = (0..10_000).map(|i| i as f32).collect();
        let plans = vec![
            WindowPlan {
                ranges: vec![(100, 900), (1200, 1300)],
                speech_starts: vec![0.0, 0.05],
            },
            WindowPlan {
                ranges: vec![(1300, 1301)],
                speech_starts: vec![0.0],
            },
            WindowPlan {
                ranges: vec![(5000, 9999)],
                speech_starts: vec![0.0],
            },
        ];
        let expected: Vec<(WindowPlan, Vec<f32>)> = plans
            .iter()
            .map(|p| (p.clone(), cut_window(&audio, p)))
            .collect();
        for chunk in [1, 7, 256, 4096, 20_000] {
            let mut got = Vec::new();
            let mut cutter = WindowCutter::new(plans.clone());
            for c in audio.chunks(chunk) {
                cutter
                    .push(c, &mut |p, a| {
                        got.push((p, a));
                        Ok::<_, ()>(())
                    })
                    .unwrap();
            }
            cutter
                .finish(&mut |p, a| {
                    got.push((p, a));
                    Ok::<_, ()>(())
                })
                .unwrap();
            assert_eq!(got, expected, "chunks of {chunk}");
        }
    }

    #[test]
    fn the_cutter_flushes_short_audio_and_stops_on_error() {
        let plans = vec![
            WindowPlan {
                ranges: vec![(0, 10)],
                speech_starts: vec![],
            },
            WindowPlan {
                ranges: vec![(20, 40)],
                speech_starts: vec![],
            },
            WindowPlan {
                ranges: vec![(50, 60)],
                speech_starts: vec![],
            },
        ];
        // The audio ends at 30 on this pass: the second window has 10 samples, the third none.
        let mut got = Vec::new();
        let mut cutter = WindowCutter::new(plans.clone());
        let mut keep = |p: WindowPlan, a: Vec<f32>| {
            got.push((p.ranges[0], a.len()));
            Ok::<_, ()>(())
        };
        cutter.push(&[0.0; 30], &mut keep).unwrap();
        cutter.finish(&mut keep).unwrap();
        assert_eq!(got, vec![((0, 10), 10), ((20, 40), 10)]);
        // A consumer error comes back as itself.
        let mut cutter = WindowCutter::new(plans);
        let err = cutter.push(&[0.0; 100], &mut |_, _| Err("gone"));
        assert_eq!(err, Err("gone"));
    }

    #[test]
    fn window_times_map_back_across_cut_pauses() {
        let w = WindowMap::new(&[(16_000, 176_000), (320_000, 400_000)]);
        assert_eq!(w.original_time(2.5, false), 3.5);
        // 10 s into the window is where the second piece (20 s of the original) begins.
        assert_eq!(w.original_time(10.0, false), 20.0);
        assert_eq!(w.original_time(10.0, true), 11.0);
        assert_eq!(w.original_time(12.0, true), 22.0);
        // Past the end: clamped to the last piece.
        assert_eq!(w.original_time(40.0, true), 25.0);
        // A segment across the cut spans the pieces it holds words of; one that runs on up to
        // 1 s into a neighbour stays in its own piece.
        assert_eq!(w.original_span(2.0, 11.5), (3.0, 21.5));
        assert_eq!(w.original_span(2.0, 11.0), (3.0, 11.0));
        assert_eq!(w.original_span(9.1, 14.0), (20.0, 24.0));
        assert_eq!(w.original_span(10.5, 12.0), (20.5, 22.0));
        // "And so my fellow Americans | ask not ...": 2 s in the first piece, 5 in the second.
        assert_eq!(w.original_span(8.0, 15.0), (9.0, 25.0));
        // Short, over the cut: the piece holding most of it.
        assert_eq!(w.original_span(9.8, 10.3), (20.0, 20.3));
    }
}
