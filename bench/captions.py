"""Captioned short videos: what reading burnt-in captions costs, end to end and for the visual
path alone (`bench/run.sh --only captions`).

Builds a deterministic corpus of short captioned videos from ../shared/data: English landscape
(1280x720) and Mandarin portrait (720x1280), each real speech clips with their reference
transcripts burnt in as captions by FFmpeg's `subtitles` filter (libass) over a moving picture
(Big Buck Bunny), plus the two real Chinese videos with hard subtitles. Each group is run, alone,
three ways, alternating, for several rounds:

- `--no-ocr`: speech alone (the floor);
- `--caption-band off`: every keyframe line is screen text (the keyframe path before captions);
- the default: the caption band found and read at caption rate, fused with speech.

It prints medians: wall time and x real time end to end, the visual workers' time and x real
time, keyframes read whole and caption crops read, the ratio to speech alone, and CER/WER of
the document text against the references.
"""
import json
import statistics
import subprocess
import tempfile
from pathlib import Path

DEJAVU = "DejaVu Sans"
WQY = "WenQuanYi Zen Hei"


def ass_time(t: float) -> str:
    cs = round(t * 100)
    return f"{cs // 360000}:{cs // 6000 % 60:02}:{cs // 100 % 60:02}.{cs % 100:02}"


def duration(path) -> float:
    return float(subprocess.check_output(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)]))


def split_lines(text: str, cjk: bool, size: int):
    """The transcript cut into caption lines of about `size` words (characters for Chinese)."""
    if cjk:
        t = "".join(c for c in text if not c.isspace())
        return [t[i:i + size] for i in range(0, len(t), size)]
    words = text.split()
    return [" ".join(words[i:i + size]) for i in range(0, len(words), size)]


def build(path: Path, width: int, height: int, font: str, size: int, margin_v: int, clips, data: Path, cjk: bool) -> str:
    """A captioned video from `clips` ([(file, transcript)]), 0.8 s of silence between them;
    each clip's transcript spread over its duration as caption lines. Returns the reference."""
    t = 0.5
    events, inputs, audio, refs = [], [], [], []
    for i, (clip, text) in enumerate(clips):
        d = duration(data / clip)
        lines = split_lines(text, cjk, 14 if cjk else 7)
        for k, line in enumerate(lines):
            a, b = t + d * k / len(lines), t + d * (k + 1) / len(lines)
            events.append(f"Dialogue: 0,{ass_time(a)},{ass_time(b)},Default,,0,0,0,,{line}")
        inputs += ["-i", str(data / clip)]
        ms = int(t * 1000)
        audio.append(f"[{i + 1}:a]aresample=16000,aformat=channel_layouts=mono,adelay={ms}|{ms}[a{i}]")
        refs.append(text)
        t += d + 0.8
    ass = path.with_suffix(".ass")
    ass.write_text(
        "[Script Info]\nScriptType: v4.00+\n"
        f"PlayResX: {width}\nPlayResY: {height}\n\n[V4+ Styles]\n"
        "Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, Italic, "
        "Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, "
        "MarginV, Encoding\n"
        f"Style: Default,{font},{size},&H00FFFFFF,&H000000FF,&H00000000,&H00000000,0,0,0,0,100,100,0,0,1,3,0,2,20,20,{margin_v},1\n\n"
        "[Events]\nFormat: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text\n" + "\n".join(events) + "\n")
    mix = "".join(f"[a{i}]" for i in range(len(clips)))
    video = (f"[0:v]scale={width}:{height}:force_original_aspect_ratio=increase,crop={width}:{height},fps=25,"
             f"subtitles={ass}:fontsdir=/usr/share/fonts/truetype[v]")
    filt = f"{video};{';'.join(audio)};{mix}amix=inputs={len(clips)}:normalize=0,apad[a]"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-stream_loop", "-1", "-i",
                    str(data / "video/moviepy-big_buck_bunny_0_30.webm"), *inputs, "-filter_complex", filt,
                    "-map", "[v]", "-map", "[a]", "-t", f"{t:.2f}", "-c:v", "libx264", "-preset", "ultrafast",
                    "-crf", "23", "-c:a", "aac", str(path)], check=True)
    ass.unlink()
    return " ".join(refs)


def corpus(work: Path, data: Path) -> dict:
    """{group: {path: reference or None}}, built once."""
    root = work / "captions"
    manifest = root / "corpus.json"
    if manifest.exists():
        return json.loads(manifest.read_text())
    root.mkdir(parents=True, exist_ok=True)
    libri = data / "speech/en/librivox-pocketsphinx"
    en = {line.split(None, 1)[0]: line.split(None, 1)[1].strip()
          for line in (libri / "trans.txt").read_text().splitlines() if line.strip()}
    en_clips = [(f"speech/en/librivox-pocketsphinx/{k}.wav", v) for k, v in en.items()]
    en_clips.append(("speech/en/jfk/jfk.flac", (data / "speech/en/jfk/jfk.txt").read_text().strip()))
    zh = {}
    for line in (data / "speech/zh/trans.tsv").read_text().splitlines():
        cols = line.split("\t")
        if len(cols) >= 2 and cols[0].endswith(".wav"):
            zh[cols[0]] = cols[1]
    zh_clips = [(f"speech/zh/{k}", v) for k, v in zh.items()]
    groups = {"English landscape": {}, "Mandarin portrait": {}, "real Chinese hard subtitles": {}}
    for n in range(3):
        clips = en_clips[2 * n:2 * n + 2]
        p = root / f"en-{n}.mp4"
        groups["English landscape"][str(p)] = build(p, 1280, 720, DEJAVU, 44, 40, clips, data, cjk=False)
    for n in range(3):
        clips = zh_clips[2 * n:2 * n + 2]
        p = root / f"zh-{n}.mp4"
        groups["Mandarin portrait"][str(p)] = build(p, 720, 1280, WQY, 40, 384, clips, data, cjk=True)
    for name in ["rapidvideocr-2.mp4", "rapidvideocr-test_a.mp4"]:
        groups["real Chinese hard subtitles"][str(data / "video/zh" / name)] = None
    manifest.write_text(json.dumps(groups, indent=1, ensure_ascii=False))
    return groups


def run(binary: str, files, model: str, threads: int, extra):
    with tempfile.TemporaryDirectory() as out:
        # --no-dedup: the groups reuse the same speech clips (see bench.run_ours).
        p = subprocess.run([binary, "run", "-q", "--json", "--no-dedup", *files, "-o", out, "--asr-model", model,
                            "--threads", str(threads), *extra], stdout=subprocess.PIPE, text=True, check=True)
        summary = json.loads(p.stdout)
        docs = [json.loads(l) for l in subprocess.check_output([binary, "cat", out], text=True).splitlines()]
    return summary, docs


def error_rate(refs: dict, docs) -> float:
    """CER for Chinese, WER otherwise, of the text without block tags against the references."""
    import re
    from bench import edits, normalize
    errors = total = 0
    for d in docs:
        ref = refs.get(d["source"])
        if not ref:
            continue
        text = "\n".join(l for l in d["text"].splitlines() if not (l.startswith("<") and l.endswith(">")))
        if re.search(r"[\u4e00-\u9fff]", ref):
            r = [c for c in ref if c.isalnum()]
            h = [c for c in text if c.isalnum()]
        else:
            r, h = normalize(ref), normalize(text)
        errors += edits(r, h)
        total += len(r)
    return errors / total if total else float("nan")


def table(binary: str, rounds: int, model: str, threads: int, work: Path, data: Path) -> None:
    groups = corpus(work, data)
    modes = {
        "speech alone (--no-ocr)": ["--no-ocr"],
        "keyframes only (--caption-band off)": ["--caption-band", "off"],
        "captions (default)": [],
    }
    # The groups, then all of them in one run: a corpus of short videos keeps both cores busy.
    groups["all captioned videos together"] = {f: r for g in list(groups.values()) for f, r in g.items()}
    print(f"\nCaptioned video: each group alone, model {model}, {threads} threads, OCR workers by default "
          f"(half the cores, at least 2) of 1 thread each, medians of {rounds} rounds")
    print("| group | mode | media s | wall s | x real time | / speech alone | visual s | visual x RT | "
          "keyframes read | caption crops read | CER/WER % |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    where = []
    measured = {}
    for group, refs in groups.items():
        files = list(refs)
        media = sum(duration(f) for f in files)
        results = {m: [] for m in modes}
        for r in range(rounds):
            order = list(modes) if r % 2 == 0 else list(reversed(modes))
            for m in order:
                summary, docs = run(binary, files, model, threads, modes[m])
                reads = sum(d["stats"].get("caption_reads", 0) for d in docs)
                frames = sum(d["stats"].get("caption_frames", 0) for d in docs)
                results[m].append((summary["wall_s"], summary["visual_s"], summary["ocr_frames"], reads, frames,
                                   error_rate(refs, docs), summary["stages"]))
        measured[group] = results
        floor = statistics.median(x[0] for x in results["speech alone (--no-ocr)"])
        for m, runs in results.items():
            wall, vis, ocr, reads, frames, err = (statistics.median(x[i] for x in runs) for i in range(6))
            vis_rt = f"{media / vis:.1f}" if vis else "-"
            crops = f"{reads:.0f} of {frames:.0f}" if frames else "-"
            e = "-" if err != err else f"{100 * err:.1f}"
            print(f"| {group} | {m} | {media:.1f} | {wall:.1f} | {media / wall:.1f} | {wall / floor:.2f} | {vis:.1f} | "
                  f"{vis_rt} | {ocr:.0f} | {crops} | {e} |", flush=True)
            if m != "speech alone (--no-ocr)":
                where.append((group, m, [x[6] for x in runs]))
    where_the_time_goes(where)
    together = "all captioned videos together"
    speech_and_picture(binary, list(groups[together]), model, threads, rounds, work,
                       {m: [x[6] | {"wall_s": x[0]} for x in runs] for m, runs in measured[together].items()})


def cpu_s(stages: dict) -> float:
    """vid2text's CPU time and its FFmpeg children's."""
    return stages.get("cpu_s", 0) + stages.get("ffmpeg_cpu_s", 0)


def speech_and_picture(binary: str, files, model: str, threads: int, rounds: int, work: Path, runs: dict) -> None:
    """All the videos three ways: speech alone, the visual path alone (copies without their audio
    track, so there is nothing to transcribe) and both. On a machine whose cores are all busy,
    the ratio of both to speech alone is about 1 + visual CPU / speech CPU."""
    silent = work / "captions" / "video-only"
    silent.mkdir(parents=True, exist_ok=True)
    copies = []
    for f in files:
        c = silent / Path(f).name
        if not c.exists():
            subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", f, "-map", "0:v:0", "-an", "-c", "copy",
                            str(c)], check=True)
        copies.append(str(c))
    visual = []
    for _ in range(rounds):
        summary, _ = run(binary, copies, model, threads, [])
        visual.append(summary["stages"] | {"wall_s": summary["wall_s"]})
    rows = [("speech alone (--no-ocr)", runs["speech alone (--no-ocr)"]),
            ("the visual path alone (video-only copies)", visual),
            ("both (captions, the default)", runs["captions (default)"])]
    print(f"\nAll captioned videos: speech, picture, both (medians of {rounds} rounds; CPU s = vid2text's and "
          "its FFmpeg children's)")
    print("| run | wall s | CPU s | CPU s / speech alone's |")
    print("|---|---|---|---|")
    speech_cpu = statistics.median(cpu_s(s) for s in rows[0][1])
    for name, stages in rows:
        wall = statistics.median(s["wall_s"] for s in stages)
        cpu = statistics.median(cpu_s(s) for s in stages)
        print(f"| {name} | {wall:.1f} | {cpu:.1f} | {cpu / speech_cpu:.2f} |", flush=True)


def where_the_time_goes(rows) -> None:
    """The visual workers' time by part, from the summary's OCR counters (medians)."""
    print("\nWhere the visual time goes (working seconds summed over the OCR workers; medians):")
    print("| group | mode | visual s | detector on keyframes s (reads) | detector on band crops s (crops) | "
          "recognizer s (lines) | rest s (FFmpeg pipes, prints) | CPU s | FFmpeg CPU s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for group, m, stages in rows:
        med = lambda k: statistics.median(s.get(k, 0) for s in stages)
        vis, fd, bd, rec = med("visual_s"), med("ocr_frame_detect_s"), med("ocr_band_detect_s"), med("ocr_recognize_s")
        print(f"| {group} | {m} | {vis:.1f} | {fd:.1f} ({med('ocr_frames_detected'):.0f}) | "
              f"{bd:.1f} ({med('ocr_bands_detected'):.0f}) | {rec:.1f} ({med('ocr_lines_recognized'):.0f}) | "
              f"{vis - fd - bd - rec:.1f} | {med('cpu_s'):.1f} | {med('ffmpeg_cpu_s'):.1f} |", flush=True)
