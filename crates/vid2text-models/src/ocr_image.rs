//! The image work around PP-OCR, in plain Rust: resizing, DB post-processing (probability map →
//! connected regions → minimum-area boxes → unclip), reading order, perspective crops, and the
//! thumbnail used to skip near-identical keyframes. Follows PaddleOCR/RapidOCR's Python, where
//! OpenCV is replaced by the few operations it needs.

/// A packed 8-bit RGB image, rows top to bottom.
#[derive(Debug, Clone, PartialEq)]
pub struct RgbImage {
    pub width: usize,
    pub height: usize,
    pub data: Vec<u8>,
}

impl RgbImage {
    pub fn new(width: usize, height: usize, data: Vec<u8>) -> Self {
        assert_eq!(data.len(), width * height * 3, "RGB buffer size");
        RgbImage {
            width,
            height,
            data,
        }
    }

    fn px(&self, x: usize, y: usize) -> [f32; 3] {
        let i = (y * self.width + x) * 3;
        [
            self.data[i] as f32,
            self.data[i + 1] as f32,
            self.data[i + 2] as f32,
        ]
    }

    /// Bilinear sample at (x, y) in pixel-centre coordinates, edges replicated.
    fn sample(&self, x: f32, y: f32) -> [f32; 3] {
        let x = x.clamp(0.0, (self.width - 1) as f32);
        let y = y.clamp(0.0, (self.height - 1) as f32);
        let (x0, y0) = (x.floor() as usize, y.floor() as usize);
        let (x1, y1) = ((x0 + 1).min(self.width - 1), (y0 + 1).min(self.height - 1));
        let (fx, fy) = (x - x0 as f32, y - y0 as f32);
        let (a, b, c, d) = (
            self.px(x0, y0),
            self.px(x1, y0),
            self.px(x0, y1),
            self.px(x1, y1),
        );
        let mut out = [0.0; 3];
        for k in 0..3 {
            let top = a[k] + (b[k] - a[k]) * fx;
            let bottom = c[k] + (d[k] - c[k]) * fx;
            out[k] = top + (bottom - top) * fy;
        }
        out
    }

    /// Rows `y..y + rows` (clamped to the image) as an image of their own.
    pub fn rows(&self, y: usize, rows: usize) -> RgbImage {
        let y = y.min(self.height);
        let rows = rows.min(self.height - y);
        let stride = self.width * 3;
        RgbImage::new(
            self.width,
            rows,
            self.data[y * stride..(y + rows) * stride].to_vec(),
        )
    }

    /// Bilinear resize (OpenCV `INTER_LINEAR` geometry: pixel centres aligned).
    pub fn resize(&self, width: usize, height: usize) -> RgbImage {
        let (sx, sy) = (
            self.width as f32 / width as f32,
            self.height as f32 / height as f32,
        );
        let mut data = Vec::with_capacity(width * height * 3);
        for y in 0..height {
            let fy = (y as f32 + 0.5) * sy - 0.5;
            for x in 0..width {
                let p = self.sample((x as f32 + 0.5) * sx - 0.5, fy);
                data.extend(p.iter().map(|v| v.round().clamp(0.0, 255.0) as u8));
            }
        }
        RgbImage::new(width, height, data)
    }

    /// Planar CHW float tensor in BGR order, `(v / 255 - 0.5) / 0.5`, written into `out` at
    /// `width_stride` columns per row (the rest of each row is left as it is: zero padding).
    pub fn write_normalized_bgr(&self, out: &mut [f32], width_stride: usize) {
        let plane = width_stride * self.height;
        for y in 0..self.height {
            for x in 0..self.width {
                let i = (y * self.width + x) * 3;
                let o = y * width_stride + x;
                // BGR: the models were trained on OpenCV's channel order.
                for (c, k) in [2usize, 1, 0].into_iter().enumerate() {
                    out[c * plane + o] = self.data[i + k] as f32 / 127.5 - 1.0;
                }
            }
        }
    }

    /// The image with `pad` black rows added above and below.
    pub fn pad_vertical(&self, pad: usize) -> RgbImage {
        let row = self.width * 3;
        let mut data = vec![0u8; row * (self.height + 2 * pad)];
        data[row * pad..row * (pad + self.height)].copy_from_slice(&self.data);
        RgbImage::new(self.width, self.height + 2 * pad, data)
    }

    /// The image turned 90° counter-clockwise (numpy `rot90`).
    pub fn rot90(&self) -> RgbImage {
        let (w, h) = (self.height, self.width);
        let mut data = vec![0u8; w * h * 3];
        for y in 0..h {
            for x in 0..w {
                // dst(y, x) = src(x, W - 1 - y) with W the source width.
                let src = (x * self.width + (self.width - 1 - y)) * 3;
                let dst = (y * w + x) * 3;
                data[dst..dst + 3].copy_from_slice(&self.data[src..src + 3]);
            }
        }
        RgbImage::new(w, h, data)
    }

    /// The quadrilateral `quad` (top-left, top-right, bottom-right, bottom-left) warped to an
    /// upright rectangle; turned upright when it is much taller than wide (vertical text).
    pub fn crop_quad(&self, quad: &Quad) -> RgbImage {
        let dist =
            |a: [f32; 2], b: [f32; 2]| ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt();
        let w = dist(quad[0], quad[1]).max(dist(quad[2], quad[3])) as usize;
        let h = dist(quad[0], quad[3]).max(dist(quad[1], quad[2])) as usize;
        let (w, h) = (w.max(1), h.max(1));
        let dst = [
            [0.0, 0.0],
            [w as f32, 0.0],
            [w as f32, h as f32],
            [0.0, h as f32],
        ];
        let m = homography(&dst, quad);
        let mut data = Vec::with_capacity(w * h * 3);
        for y in 0..h {
            for x in 0..w {
                let (u, v) = (x as f64, y as f64);
                let d = m[6] * u + m[7] * v + 1.0;
                let sx = (m[0] * u + m[1] * v + m[2]) / d;
                let sy = (m[3] * u + m[4] * v + m[5]) / d;
                let p = self.sample(sx as f32, sy as f32);
                data.extend(p.iter().map(|v| v.round().clamp(0.0, 255.0) as u8));
            }
        }
        let crop = RgbImage::new(w, h, data);
        if h as f32 / w as f32 >= 1.5 {
            crop.rot90()
        } else {
            crop
        }
    }
}

/// Four corners: top-left, top-right, bottom-right, bottom-left (x, y).
pub type Quad = [[f32; 2]; 4];

/// The 3x3 projective map (last entry 1) taking each `from[i]` to `to[i]`.
fn homography(from: &Quad, to: &Quad) -> [f64; 8] {
    let mut a = [[0f64; 9]; 8];
    for i in 0..4 {
        let (x, y) = (from[i][0] as f64, from[i][1] as f64);
        let (u, v) = (to[i][0] as f64, to[i][1] as f64);
        a[2 * i] = [x, y, 1.0, 0.0, 0.0, 0.0, -u * x, -u * y, u];
        a[2 * i + 1] = [0.0, 0.0, 0.0, x, y, 1.0, -v * x, -v * y, v];
    }
    // Gaussian elimination with partial pivoting.
    for col in 0..8 {
        let pivot = (col..8)
            .max_by(|&p, &q| a[p][col].abs().total_cmp(&a[q][col].abs()))
            .expect("rows");
        a.swap(col, pivot);
        let d = a[col][col];
        if d.abs() < 1e-12 {
            // Degenerate quad: fall back to the identity, the crop is garbage but harmless.
            return [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0];
        }
        for v in &mut a[col][col..] {
            *v /= d;
        }
        let pivot_row = a[col];
        for (row, r) in a.iter_mut().enumerate() {
            let f = r[col];
            if row != col && f != 0.0 {
                for (v, p) in r[col..].iter_mut().zip(&pivot_row[col..]) {
                    *v -= f * p;
                }
            }
        }
    }
    let mut m = [0f64; 8];
    for (i, v) in m.iter_mut().enumerate() {
        *v = a[i][8];
    }
    m
}

/// How the detector input is sized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DetLimit {
    /// RapidOCR's `limit_type: min`: the short side is brought up to at least this (736 in
    /// RapidOCR): small images are enlarged, which finds small text at a high cost.
    Min(usize),
    /// The short side brought up to at least `min_short`, then the long side down to at most
    /// `max_long` (which wins): small frames are enlarged a little, large ones reduced.
    Between { min_short: usize, max_long: usize },
}

/// Size of the detector input for an image under `limit`, both sides rounded to multiples of 32.
pub fn det_input_size(width: usize, height: usize, limit: DetLimit) -> (usize, usize) {
    let ratio = match limit {
        DetLimit::Min(side) => {
            let short = width.min(height) as f64;
            if short < side as f64 {
                side as f64 / short
            } else {
                1.0
            }
        }
        DetLimit::Between {
            min_short,
            max_long,
        } => {
            let (short, long) = (width.min(height) as f64, width.max(height) as f64);
            let up = (min_short as f64 / short).max(1.0);
            up.min(max_long as f64 / long)
        }
    };
    let round32 = |v: f64| (((v as usize) as f64 / 32.0).round() as usize * 32).max(32);
    (
        round32(width as f64 * ratio),
        round32(height as f64 * ratio),
    )
}

/// DB post-processing parameters (RapidOCR 1.4.4 defaults).
#[derive(Debug, Clone, Copy)]
pub struct DbParams {
    /// Pixel probability above which a pixel is text.
    pub thresh: f32,
    /// Mean probability inside a box below which the box is dropped.
    pub box_thresh: f32,
    pub max_candidates: usize,
    pub unclip_ratio: f32,
}

impl Default for DbParams {
    fn default() -> Self {
        DbParams {
            thresh: 0.3,
            box_thresh: 0.5,
            max_candidates: 1000,
            unclip_ratio: 1.6,
        }
    }
}

/// A rotated rectangle: its corners in the order [`Quad`] uses, and its two side lengths.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RotRect {
    pub corners: Quad,
    pub short_side: f32,
}

/// Text boxes from the detector's probability map (`width` x `height`), in the coordinates of
/// an image of `dest_width` x `dest_height`, in reading order.
pub fn boxes_from_probability(
    prob: &[f32],
    width: usize,
    height: usize,
    dest_width: usize,
    dest_height: usize,
    p: &DbParams,
) -> Vec<Quad> {
    // Threshold, then dilate with a 2x2 kernel (OpenCV's anchor: reaches up and left).
    let bit: Vec<bool> = prob.iter().map(|&v| v > p.thresh).collect();
    let mut mask = vec![false; width * height];
    for y in 0..height {
        for x in 0..width {
            let at = |dx: usize, dy: usize| x >= dx && y >= dy && bit[(y - dy) * width + (x - dx)];
            mask[y * width + x] = at(0, 0) || at(1, 0) || at(0, 1) || at(1, 1);
        }
    }
    let mut boxes = Vec::new();
    for region in regions(&mask, width, height)
        .into_iter()
        .take(p.max_candidates)
    {
        let Some(rect) = min_area_rect(&region) else {
            continue;
        };
        if rect.short_side < 3.0 {
            continue;
        }
        if box_score(prob, width, height, &rect.corners) < p.box_thresh {
            continue;
        }
        let grown = unclip(&rect, p.unclip_ratio);
        if grown.short_side < 5.0 {
            continue;
        }
        let (sx, sy) = (
            dest_width as f32 / width as f32,
            dest_height as f32 / height as f32,
        );
        let mut q = grown.corners;
        for c in &mut q {
            c[0] = (c[0] * sx).round().clamp(0.0, dest_width as f32);
            c[1] = (c[1] * sy).round().clamp(0.0, dest_height as f32);
        }
        // RapidOCR's filter_tag_det_res: clockwise order, clip inside the image, drop slivers.
        let mut q = order_clockwise(q);
        for c in &mut q {
            c[0] = c[0].clamp(0.0, (dest_width - 1) as f32).trunc();
            c[1] = c[1].clamp(0.0, (dest_height - 1) as f32).trunc();
        }
        let dist =
            |a: [f32; 2], b: [f32; 2]| ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt();
        if dist(q[0], q[1]) as i64 <= 3 || dist(q[0], q[3]) as i64 <= 3 {
            continue;
        }
        boxes.push(q);
    }
    reading_order(boxes)
}

/// The outline of each 8-connected region of `true` pixels: for every row it covers, its
/// leftmost and rightmost pixel (enough for a convex hull). Regions in raster order.
fn regions(mask: &[bool], width: usize, height: usize) -> Vec<Vec<[f32; 2]>> {
    let mut seen = vec![false; mask.len()];
    let mut out = Vec::new();
    let mut stack = Vec::new();
    for start in 0..mask.len() {
        if !mask[start] || seen[start] {
            continue;
        }
        seen[start] = true;
        stack.push(start);
        // Row extremes of this region, keyed by row.
        let mut rows: std::collections::BTreeMap<usize, (usize, usize)> = Default::default();
        while let Some(i) = stack.pop() {
            let (x, y) = (i % width, i / width);
            let e = rows.entry(y).or_insert((x, x));
            e.0 = e.0.min(x);
            e.1 = e.1.max(x);
            for dy in [-1i64, 0, 1] {
                for dx in [-1i64, 0, 1] {
                    let (nx, ny) = (x as i64 + dx, y as i64 + dy);
                    if nx < 0 || ny < 0 || nx >= width as i64 || ny >= height as i64 {
                        continue;
                    }
                    let j = ny as usize * width + nx as usize;
                    if mask[j] && !seen[j] {
                        seen[j] = true;
                        stack.push(j);
                    }
                }
            }
        }
        let mut pts = Vec::with_capacity(rows.len() * 2);
        for (y, (a, b)) in rows {
            pts.push([a as f32, y as f32]);
            if b != a {
                pts.push([b as f32, y as f32]);
            }
        }
        out.push(pts);
    }
    out
}

fn cross(o: [f32; 2], a: [f32; 2], b: [f32; 2]) -> f32 {
    (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])
}

/// Convex hull (Andrew's monotone chain), counter-clockwise, no repeated points.
fn convex_hull(points: &[[f32; 2]]) -> Vec<[f32; 2]> {
    let mut p = points.to_vec();
    p.sort_by(|a, b| a[0].total_cmp(&b[0]).then(a[1].total_cmp(&b[1])));
    p.dedup();
    if p.len() < 3 {
        return p;
    }
    let mut hull: Vec<[f32; 2]> = Vec::with_capacity(p.len() * 2);
    for pass in 0..2 {
        let start = hull.len();
        let iter: Box<dyn Iterator<Item = &[f32; 2]>> = if pass == 0 {
            Box::new(p.iter())
        } else {
            Box::new(p.iter().rev())
        };
        for &pt in iter {
            while hull.len() >= start + 2
                && cross(hull[hull.len() - 2], hull[hull.len() - 1], pt) <= 0.0
            {
                hull.pop();
            }
            hull.push(pt);
        }
        hull.pop();
    }
    hull
}

/// The minimum-area rectangle around a set of points (rotating calipers over the hull's edges),
/// corners in [`Quad`] order as PaddleOCR's `get_mini_boxes` sorts them.
pub fn min_area_rect(points: &[[f32; 2]]) -> Option<RotRect> {
    let hull = convex_hull(points);
    if hull.is_empty() {
        return None;
    }
    if hull.len() < 3 {
        // A point or a segment: a degenerate rectangle (short side 0).
        let (a, b) = (hull[0], hull[hull.len() - 1]);
        return Some(RotRect {
            corners: order_mini_box([a, b, b, a]),
            short_side: 0.0,
        });
    }
    let mut best: Option<(f32, Quad, f32)> = None;
    for i in 0..hull.len() {
        let (a, b) = (hull[i], hull[(i + 1) % hull.len()]);
        let len = ((b[0] - a[0]).powi(2) + (b[1] - a[1]).powi(2)).sqrt();
        if len == 0.0 {
            continue;
        }
        let u = [(b[0] - a[0]) / len, (b[1] - a[1]) / len];
        let v = [-u[1], u[0]];
        let (mut min_u, mut max_u, mut min_v, mut max_v) = (f32::MAX, f32::MIN, f32::MAX, f32::MIN);
        for p in &hull {
            let (du, dv) = (
                (p[0] - a[0]) * u[0] + (p[1] - a[1]) * u[1],
                (p[0] - a[0]) * v[0] + (p[1] - a[1]) * v[1],
            );
            min_u = min_u.min(du);
            max_u = max_u.max(du);
            min_v = min_v.min(dv);
            max_v = max_v.max(dv);
        }
        let area = (max_u - min_u) * (max_v - min_v);
        if best.as_ref().is_none_or(|b| area < b.0) {
            let at =
                |su: f32, sv: f32| [a[0] + u[0] * su + v[0] * sv, a[1] + u[1] * su + v[1] * sv];
            let corners = [
                at(min_u, min_v),
                at(max_u, min_v),
                at(max_u, max_v),
                at(min_u, max_v),
            ];
            best = Some((area, corners, (max_u - min_u).min(max_v - min_v)));
        }
    }
    best.map(|(_, c, short)| RotRect {
        corners: order_mini_box(c),
        short_side: short,
    })
}

/// PaddleOCR's `get_mini_boxes` order: the two leftmost points (by x) give top-left and
/// bottom-left by y, the two rightmost give top-right and bottom-right.
fn order_mini_box(mut pts: Quad) -> Quad {
    pts.sort_by(|a, b| a[0].total_cmp(&b[0]));
    let (tl, bl) = if pts[1][1] > pts[0][1] {
        (pts[0], pts[1])
    } else {
        (pts[1], pts[0])
    };
    let (tr, br) = if pts[3][1] > pts[2][1] {
        (pts[2], pts[3])
    } else {
        (pts[3], pts[2])
    };
    [tl, tr, br, bl]
}

/// RapidOCR's `order_points_clockwise` (imutils): left pair sorted by y, right pair by y.
fn order_clockwise(mut pts: Quad) -> Quad {
    pts.sort_by(|a, b| a[0].total_cmp(&b[0]));
    let mut left = [pts[0], pts[1]];
    let mut right = [pts[2], pts[3]];
    left.sort_by(|a, b| a[1].total_cmp(&b[1]));
    right.sort_by(|a, b| a[1].total_cmp(&b[1]));
    [left[0], right[0], right[1], left[1]]
}

/// Mean probability inside the box (PaddleOCR's `box_score_fast`).
fn box_score(prob: &[f32], width: usize, height: usize, q: &Quad) -> f32 {
    let clampx = |v: f32| (v.max(0.0) as usize).min(width - 1);
    let clampy = |v: f32| (v.max(0.0) as usize).min(height - 1);
    let xs = q.iter().map(|c| c[0]);
    let ys = q.iter().map(|c| c[1]);
    let xmin = clampx(xs.clone().fold(f32::MAX, f32::min).floor());
    let xmax = clampx(xs.fold(f32::MIN, f32::max).ceil());
    let ymin = clampy(ys.clone().fold(f32::MAX, f32::min).floor());
    let ymax = clampy(ys.fold(f32::MIN, f32::max).ceil());
    // fillPoly on integer corners.
    let poly: Vec<[f32; 2]> = q.iter().map(|c| [c[0].trunc(), c[1].trunc()]).collect();
    let (mut sum, mut n) = (0f64, 0u64);
    for y in ymin..=ymax {
        for x in xmin..=xmax {
            if inside_convex(&poly, [x as f32, y as f32]) {
                sum += prob[y * width + x] as f64;
                n += 1;
            }
        }
    }
    if n == 0 {
        0.0
    } else {
        (sum / n as f64) as f32
    }
}

/// Whether `p` lies inside or on a convex polygon (either winding).
fn inside_convex(poly: &[[f32; 2]], p: [f32; 2]) -> bool {
    let (mut pos, mut neg) = (false, false);
    for i in 0..poly.len() {
        let c = cross(poly[i], poly[(i + 1) % poly.len()], p);
        pos |= c > 0.0;
        neg |= c < 0.0;
    }
    !(pos && neg)
}

/// Grows a rectangle by `area * ratio / perimeter` on every side: what PaddleOCR's pyclipper
/// offset followed by a new minimum-area rectangle gives for a rectangle.
fn unclip(r: &RotRect, ratio: f32) -> RotRect {
    let [a, b, _, d] = r.corners;
    let w = ((b[0] - a[0]).powi(2) + (b[1] - a[1]).powi(2)).sqrt();
    let h = ((d[0] - a[0]).powi(2) + (d[1] - a[1]).powi(2)).sqrt();
    if w == 0.0 || h == 0.0 {
        return *r;
    }
    let dist = w * h * ratio / (2.0 * (w + h));
    let u = [(b[0] - a[0]) / w, (b[1] - a[1]) / w];
    let v = [(d[0] - a[0]) / h, (d[1] - a[1]) / h];
    let at = |su: f32, sv: f32| [a[0] + u[0] * su + v[0] * sv, a[1] + u[1] * su + v[1] * sv];
    let corners = [
        at(-dist, -dist),
        at(w + dist, -dist),
        at(w + dist, h + dist),
        at(-dist, h + dist),
    ];
    RotRect {
        corners: order_mini_box(corners),
        short_side: (w + 2.0 * dist).min(h + 2.0 * dist),
    }
}

/// Top to bottom, left to right; boxes within 10 px of height count as one line (RapidOCR's
/// `sorted_boxes`).
fn reading_order(mut boxes: Vec<Quad>) -> Vec<Quad> {
    boxes.sort_by(|a, b| {
        a[0][1]
            .total_cmp(&b[0][1])
            .then(a[0][0].total_cmp(&b[0][0]))
    });
    for i in 0..boxes.len().saturating_sub(1) {
        for j in (0..=i).rev() {
            if (boxes[j + 1][0][1] - boxes[j][0][1]).abs() < 10.0
                && boxes[j + 1][0][0] < boxes[j][0][0]
            {
                boxes.swap(j, j + 1);
            } else {
                break;
            }
        }
    }
    boxes
}

/// A small grey thumbnail of a frame (mean of each cell of a fixed grid), to tell whether two
/// keyframes show the same picture without running OCR.
#[derive(Debug, Clone, PartialEq)]
pub struct Thumbnail {
    cells: Vec<u8>,
}

/// Cells of a [`Thumbnail`]: columns and rows.
const THUMB_W: usize = 32;
const THUMB_H: usize = 18;

impl Thumbnail {
    pub fn of(img: &RgbImage) -> Thumbnail {
        let mut sum = vec![0u64; THUMB_W * THUMB_H];
        let mut count = vec![0u64; THUMB_W * THUMB_H];
        for y in 0..img.height {
            let cy = y * THUMB_H / img.height;
            for x in 0..img.width {
                let cx = x * THUMB_W / img.width;
                let i = (y * img.width + x) * 3;
                let grey = (img.data[i] as u64 * 299
                    + img.data[i + 1] as u64 * 587
                    + img.data[i + 2] as u64 * 114)
                    / 1000;
                sum[cy * THUMB_W + cx] += grey;
                count[cy * THUMB_W + cx] += 1;
            }
        }
        Thumbnail {
            cells: sum
                .iter()
                .zip(&count)
                .map(|(&s, &n)| s.checked_div(n).unwrap_or(0) as u8)
                .collect(),
        }
    }

    /// Cells whose mean grey differs by more than `level` (0..255).
    pub fn changed_cells(&self, other: &Thumbnail, level: u8) -> usize {
        self.cells
            .iter()
            .zip(&other.cells)
            .filter(|(a, b)| a.abs_diff(**b) > level)
            .count()
    }

    /// Near-identical: no cell changed by more than 6 grey levels. A new line of text on a
    /// slide moves the cells it covers by far more; compression noise moves them by 1 or 2.
    pub fn same_picture(&self, other: &Thumbnail) -> bool {
        self.changed_cells(other, 6) == 0
    }

    /// [`Self::same_picture`] outside the horizontal strip from `y0` to `y1` (fractions of the
    /// height): a caption band changing while the rest of the picture stands still.
    pub fn same_picture_outside(&self, other: &Thumbnail, y0: f64, y1: f64) -> bool {
        let rows = |y: f64| (y.clamp(0.0, 1.0) * THUMB_H as f64) as usize;
        let (from, to) = (rows(y0), (rows(y1) + 1).min(THUMB_H));
        self.cells
            .iter()
            .zip(&other.cells)
            .enumerate()
            .filter(|(i, _)| !(from..to).contains(&(i / THUMB_W)))
            .all(|(_, (a, b))| a.abs_diff(*b) <= 6)
    }
}

/// The print of a caption band crop, to tell whether its caption changed without running OCR:
/// for each cell of a 64 x 8 grid along the band, the share of its pixels that are caption ink.
///
/// Caption text is bright (white, yellow) with a dark outline, so ink is a bright pixel with a
/// dark one two pixels away across or up and down: the strokes of the letters more than a bright
/// sky behind them. Closer still to the letters alone is a stroke: a bright pixel with dark ones
/// within three pixels on both sides, across or up and down (the picture just outside an
/// outline has dark on one side only). Captions without an outline leave almost no such ink;
/// then the share of bright pixels is compared instead (dark text on a light box changes it
/// too), at the cost of reading again when the picture behind changes.
#[derive(Debug, Clone, PartialEq)]
pub struct BandPrint {
    outlined: Vec<u8>,
    bright: Vec<u8>,
    stroke: Vec<u8>,
}

/// Columns and rows of a [`BandPrint`]'s grid.
pub const PRINT_W: usize = 64;
pub const PRINT_H: usize = 8;

impl BandPrint {
    pub fn of(img: &RgbImage) -> BandPrint {
        let (w, h) = (img.width, img.height);
        let luma: Vec<u8> = img
            .data
            .chunks_exact(3)
            .map(|p| ((p[0] as u32 * 299 + p[1] as u32 * 587 + p[2] as u32 * 114) / 1000) as u8)
            .collect();
        let dark = |x: usize, y: usize| luma[y * w + x] <= 80;
        let mut outlined = vec![0u32; PRINT_W * PRINT_H];
        let mut bright = vec![0u32; PRINT_W * PRINT_H];
        let mut stroke = vec![0u32; PRINT_W * PRINT_H];
        let mut count = vec![0u32; PRINT_W * PRINT_H];
        // A dark pixel within three steps of (x, y) in direction (dx, dy).
        let dark_within = |x: usize, y: usize, dx: isize, dy: isize| {
            (1..=3isize).any(|k| {
                let (xx, yy) = (x as isize + dx * k, y as isize + dy * k);
                xx >= 0 && yy >= 0 && (xx as usize) < w && (yy as usize) < h && {
                    dark(xx as usize, yy as usize)
                }
            })
        };
        for y in 0..h {
            let cy = y * PRINT_H / h.max(1);
            for x in 0..w {
                let cell = cy * PRINT_W + x * PRINT_W / w.max(1);
                count[cell] += 1;
                if luma[y * w + x] < 200 {
                    continue;
                }
                bright[cell] += 1;
                let edge = (x >= 2 && dark(x - 2, y))
                    || (x + 2 < w && dark(x + 2, y))
                    || (y >= 2 && dark(x, y - 2))
                    || (y + 2 < h && dark(x, y + 2));
                if edge {
                    outlined[cell] += 1;
                }
                let across = dark_within(x, y, -1, 0) && dark_within(x, y, 1, 0);
                if across || (dark_within(x, y, 0, -1) && dark_within(x, y, 0, 1)) {
                    stroke[cell] += 1;
                }
            }
        }
        let share = |v: &[u32]| -> Vec<u8> {
            v.iter()
                .zip(&count)
                .map(|(&k, &n)| (k * 255).checked_div(n).unwrap_or(0) as u8)
                .collect()
        };
        BandPrint {
            outlined: share(&outlined),
            bright: share(&bright),
            stroke: share(&stroke),
        }
    }

    /// The same caption as on `read`, the last crop read, whose lines covered the grid cells
    /// marked in `text` (row-major, [`PRINT_W`] x [`PRINT_H`]): few of those cells saw their
    /// share of ink move by more than 10 % (24 of 255), and elsewhere no cell gained outlined
    /// ink as dense as text. The ink compared is the strokes where the last caption had them
    /// (fewer than a twentieth of its cells may move: see below), else outlined ink where it had
    /// an outline, else bright pixels (fewer than a tenth). (A caption that differs from the
    /// last by one character in forty can pass for it: consecutive captions rarely do.) The
    /// picture moving around a caption, outside its letters, is not a new caption.
    pub fn same_caption(&self, read: &BandPrint, text: &[bool]) -> bool {
        let inside: Vec<usize> = (0..text.len()).filter(|&i| text[i]).collect();
        let mean = |of: &dyn Fn(usize) -> u8| match inside.len() {
            0 => 0,
            n => inside.iter().map(|&i| of(i) as usize).sum::<usize>() / n,
        };
        // Measured on the captions benchmark's 84 crops read (captions over a moving picture,
        // a cut in it), cells moved by more than 24: the same caption 0-2.5 % of them by
        // strokes and 10-50 % by outlined ink; a new caption 10-42 % by strokes (13-66 % by
        // outlined ink).
        let (channel, share): (fn(&BandPrint) -> &[u8], f64) = if mean(&|i| read.stroke[i]) >= 10 {
            (|p| &p.stroke, 0.05)
        } else if mean(&|i| read.outlined[i]) >= 10 {
            (|p| &p.outlined, 0.1)
        } else {
            (|p| &p.bright, 0.1)
        };
        let (now, then) = (channel(self), channel(read));
        let moved = inside
            .iter()
            .filter(|&&i| now[i].abs_diff(then[i]) > 24)
            .count();
        let kept = inside.is_empty() || (moved as f64) < share * inside.len() as f64;
        let no_new = (0..self.outlined.len())
            .filter(|&i| !text.get(i).copied().unwrap_or(false))
            .all(|i| {
                !(self.outlined[i] > 40 && self.outlined[i] > read.outlined[i].saturating_add(24))
            });
        kept && no_new
    }

    /// The grid cells (row-major) that a box covers, its sides in fractions of the crop.
    pub fn cells(x0: f64, y0: f64, x1: f64, y1: f64) -> Vec<usize> {
        let at = |v: f64, n: usize| ((v.clamp(0.0, 1.0) * n as f64) as usize).min(n - 1);
        let mut out = Vec::new();
        for row in at(y0, PRINT_H)..=at(y1, PRINT_H) {
            for col in at(x0, PRINT_W)..=at(x1, PRINT_W) {
                out.push(row * PRINT_W + col);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 640 x 64 band crop: `background` grey, and a caption of outlined white bars (3 pixels
    /// white, 2 black on each side, rows 20-43) starting at each of `bars`.
    fn band_crop(background: u8, bars: &[usize]) -> RgbImage {
        let (w, h) = (640, 64);
        let mut luma = vec![background; w * h];
        for &x0 in bars {
            for y in 18..46 {
                for x in x0..x0 + 7 {
                    let inner = (x0 + 2..x0 + 5).contains(&x) && (20..44).contains(&y);
                    luma[y * w + x] = if inner { 255 } else { 0 };
                }
            }
        }
        RgbImage::new(w, h, luma.iter().flat_map(|&v| [v, v, v]).collect())
    }

    /// The same caption over another picture is the same; another caption of the same length
    /// is not, and its outline is no reason to think otherwise.
    #[test]
    fn a_caption_print_follows_the_letters_not_the_picture_behind() {
        let caption: Vec<usize> = (100..540).step_by(20).collect();
        let other: Vec<usize> = (110..540).step_by(20).collect();
        let mut text = vec![false; PRINT_W * PRINT_H];
        for i in BandPrint::cells(100.0 / 640.0, 18.0 / 64.0, 540.0 / 640.0, 46.0 / 64.0) {
            text[i] = true;
        }
        // Read over a white sky: the sky beside each outline is outlined ink, strokes are not.
        let read = BandPrint::of(&band_crop(255, &caption));
        assert!(BandPrint::of(&band_crop(255, &caption)).same_caption(&read, &text));
        // The picture behind turns grey: the outlined ink beside the letters is gone.
        assert!(BandPrint::of(&band_crop(128, &caption)).same_caption(&read, &text));
        assert!(!BandPrint::of(&band_crop(255, &other)).same_caption(&read, &text));
        assert!(!BandPrint::of(&band_crop(128, &other)).same_caption(&read, &text));
        assert!(!BandPrint::of(&band_crop(255, &[])).same_caption(&read, &text));
    }

    fn close(a: [f32; 2], b: [f32; 2]) -> bool {
        (a[0] - b[0]).abs() < 0.01 && (a[1] - b[1]).abs() < 0.01
    }

    #[test]
    fn min_area_rect_of_an_axis_aligned_block() {
        let mut pts = Vec::new();
        for y in 10..20 {
            pts.push([5.0, y as f32]);
            pts.push([44.0, y as f32]);
        }
        let r = min_area_rect(&pts).unwrap();
        assert!((r.short_side - 9.0).abs() < 1e-3, "{r:?}");
        let [tl, tr, br, bl] = r.corners;
        assert!(close(tl, [5.0, 10.0]) && close(tr, [44.0, 10.0]), "{r:?}");
        assert!(close(br, [44.0, 19.0]) && close(bl, [5.0, 19.0]), "{r:?}");
    }

    #[test]
    fn min_area_rect_follows_a_tilted_block() {
        // A 40 x 6 bar turned by 30 degrees.
        let (c, s) = (30f32.to_radians().cos(), 30f32.to_radians().sin());
        let mut pts = Vec::new();
        for i in 0..=40 {
            for j in 0..=6 {
                let (u, v) = (i as f32, j as f32);
                pts.push([100.0 + u * c - v * s, 50.0 + u * s + v * c]);
            }
        }
        let r = min_area_rect(&pts).unwrap();
        assert!((r.short_side - 6.0).abs() < 0.01, "{r:?}");
        let long = ((r.corners[1][0] - r.corners[0][0]).powi(2)
            + (r.corners[1][1] - r.corners[0][1]).powi(2))
        .sqrt()
        .max(
            ((r.corners[3][0] - r.corners[0][0]).powi(2)
                + (r.corners[3][1] - r.corners[0][1]).powi(2))
            .sqrt(),
        );
        assert!((long - 40.0).abs() < 0.01, "{r:?}");
    }

    #[test]
    fn boxes_come_from_blobs_in_reading_order() {
        let (w, h) = (100, 60);
        let mut prob = vec![0.0f32; w * h];
        // Two lines: right word first in memory order of their tops, then a lower line.
        for (x0, x1, y0, y1) in [(60, 90, 10, 18), (10, 50, 11, 19), (10, 80, 40, 50)] {
            for y in y0..y1 {
                for x in x0..x1 {
                    prob[y * w + x] = 0.9;
                }
            }
        }
        // A faint blob under the box threshold is dropped.
        for y in 25..32 {
            for x in 20..40 {
                prob[y * w + x] = 0.35;
            }
        }
        let boxes = boxes_from_probability(&prob, w, h, 200, 120, &DbParams::default());
        assert_eq!(boxes.len(), 3, "{boxes:?}");
        // Scaled by 2, grown by unclip, first box is the left word of the top line.
        assert!(boxes[0][0][0] < boxes[1][0][0], "{boxes:?}");
        assert!(boxes[2][0][1] > 60.0, "{boxes:?}");
        let b = boxes[0];
        assert!(b[0][0] < 20.0 && b[1][0] > 98.0, "{b:?}");
        assert!(b[0][1] < 22.0 && b[3][1] > 36.0, "{b:?}");
    }

    #[test]
    fn det_size_is_a_multiple_of_32_under_either_limit() {
        assert_eq!(det_input_size(1280, 720, DetLimit::Min(736)), (1312, 736));
        assert_eq!(det_input_size(640, 480, DetLimit::Min(736)), (992, 736));
        assert_eq!(det_input_size(2000, 1000, DetLimit::Min(736)), (2016, 992));
        let b = DetLimit::Between {
            min_short: 480,
            max_long: 960,
        };
        assert_eq!(det_input_size(1280, 720, b), (960, 544));
        assert_eq!(det_input_size(320, 240, b), (640, 480));
        assert_eq!(det_input_size(500, 285, b), (832, 480));
        assert_eq!(det_input_size(640, 480, b), (640, 480));
    }

    #[test]
    fn crop_of_an_axis_aligned_quad_is_the_region() {
        let (w, h) = (8, 6);
        let data: Vec<u8> = (0..w * h).flat_map(|i| [i as u8, 0, 0]).collect();
        let img = RgbImage::new(w, h, data);
        let c = img.crop_quad(&[[2.0, 1.0], [6.0, 1.0], [6.0, 4.0], [2.0, 4.0]]);
        assert_eq!((c.width, c.height), (4, 3));
        assert_eq!(c.data[0], (w + 2) as u8);
        assert_eq!(c.data[3 * 3], (w + 5) as u8);
        // Tall crops are turned.
        let t = img.crop_quad(&[[1.0, 0.0], [2.0, 0.0], [2.0, 5.0], [1.0, 5.0]]);
        assert_eq!((t.width, t.height), (5, 1));
    }

    #[test]
    fn thumbnails_see_a_new_line_but_not_noise() {
        let (w, h) = (640, 360);
        let slide = RgbImage::new(w, h, vec![240; w * h * 3]);
        let mut noisy = slide.clone();
        for (i, v) in noisy.data.iter_mut().enumerate() {
            *v = (*v as i32 + (i % 5) as i32 - 2) as u8;
        }
        let mut more = slide.clone();
        // A line of dark "text" 12 px high, 30 % ink.
        for y in 200..212 {
            for x in 100..400 {
                if x % 10 < 3 {
                    let i = (y * w + x) * 3;
                    more.data[i..i + 3].copy_from_slice(&[20, 20, 20]);
                }
            }
        }
        let (a, b, c) = (
            Thumbnail::of(&slide),
            Thumbnail::of(&noisy),
            Thumbnail::of(&more),
        );
        assert!(a.same_picture(&b));
        assert!(!a.same_picture(&c));
    }

    #[test]
    fn resize_keeps_a_flat_image_flat() {
        let img = RgbImage::new(10, 10, vec![77; 300]);
        let r = img.resize(23, 7);
        assert_eq!((r.width, r.height), (23, 7));
        assert!(r.data.iter().all(|&v| v == 77));
    }
}
