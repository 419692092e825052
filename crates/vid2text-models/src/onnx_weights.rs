//! The float tensors stored in an ONNX file (its graph's initializers), read straight from the
//! protobuf wire format: enough to run a small model in our own code with the weights its
//! authors ship, without a protobuf library.

use std::collections::HashMap;

/// A float tensor: its shape and its values, row-major.
#[derive(Debug, Clone)]
pub struct Tensor {
    pub dims: Vec<usize>,
    pub data: Vec<f32>,
}

/// A node of the graph: its operator and the names of its inputs, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub op_type: String,
    pub inputs: Vec<String>,
}

/// The graph's nodes, in file order.
pub fn nodes(bytes: &[u8]) -> Result<Vec<Node>, String> {
    let mut out = Vec::new();
    // ModelProto.graph = 7; GraphProto.node = 1; NodeProto.input = 1, op_type = 4.
    for graph in fields(bytes, 7)? {
        for node in fields(graph, 1)? {
            let mut n = Node {
                op_type: String::new(),
                inputs: Vec::new(),
            };
            let mut r = Reader(node);
            while let Some((field, value)) = r.next()? {
                match (field, value) {
                    (1, Value::Bytes(s)) => n.inputs.push(String::from_utf8_lossy(s).into_owned()),
                    (4, Value::Bytes(s)) => n.op_type = String::from_utf8_lossy(s).into_owned(),
                    _ => {}
                }
            }
            out.push(n);
        }
    }
    Ok(out)
}

/// ONNX's `TensorProto.DataType.FLOAT`.
const FLOAT: u64 = 1;

/// Every float initializer of the ONNX model in `bytes`, by name. Other tensors are left out.
pub fn float_initializers(bytes: &[u8]) -> Result<HashMap<String, Tensor>, String> {
    let mut out = HashMap::new();
    // ModelProto.graph = 7; GraphProto.initializer = 5.
    for graph in fields(bytes, 7)? {
        for tensor in fields(graph, 5)? {
            if let Some((name, t)) = tensor_proto(tensor)? {
                out.insert(name, t);
            }
        }
    }
    Ok(out)
}

/// One TensorProto: `Some` when it holds floats inside the file.
fn tensor_proto(b: &[u8]) -> Result<Option<(String, Tensor)>, String> {
    let (mut dims, mut data_type, mut name) = (Vec::new(), 0u64, String::new());
    let (mut raw, mut floats) = (None::<&[u8]>, Vec::new());
    let mut r = Reader(b);
    while let Some((field, value)) = r.next()? {
        match (field, value) {
            (1, Value::Varint(v)) => dims.push(v as usize),
            (1, Value::Bytes(packed)) => {
                let mut p = Reader(packed);
                while !p.0.is_empty() {
                    dims.push(p.varint()? as usize);
                }
            }
            (2, Value::Varint(v)) => data_type = v,
            (4, Value::Fixed32(v)) => floats.push(f32::from_bits(v)),
            (4, Value::Bytes(packed)) => floats.extend(le_floats(packed)?),
            (8, Value::Bytes(s)) => name = String::from_utf8_lossy(s).into_owned(),
            (9, Value::Bytes(s)) => raw = Some(s),
            (14, Value::Varint(1)) => return Err(format!("{name}: weights in an external file")),
            _ => {}
        }
    }
    if data_type != FLOAT {
        return Ok(None);
    }
    let data = match raw {
        Some(raw) => le_floats(raw)?,
        None => floats,
    };
    let want: usize = dims.iter().product();
    if data.len() != want {
        return Err(format!("{name}: {} values for shape {dims:?}", data.len()));
    }
    Ok(Some((name, Tensor { dims, data })))
}

fn le_floats(b: &[u8]) -> Result<Vec<f32>, String> {
    if !b.len().is_multiple_of(4) {
        return Err(format!("{} bytes of float data", b.len()));
    }
    Ok(b.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

/// The length-delimited values of `field` in the message `b`.
fn fields(b: &[u8], field: u64) -> Result<Vec<&[u8]>, String> {
    let mut out = Vec::new();
    let mut r = Reader(b);
    while let Some((f, v)) = r.next()? {
        if let (true, Value::Bytes(s)) = (f == field, v) {
            out.push(s);
        }
    }
    Ok(out)
}

enum Value<'a> {
    Varint(u64),
    Fixed32(u32),
    Fixed64,
    Bytes(&'a [u8]),
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Result<u64, String> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let (&byte, rest) = self.0.split_first().ok_or("truncated varint")?;
            self.0 = rest;
            v |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("varint over 64 bits".into())
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if n > self.0.len() {
            return Err(format!("field of {n} bytes, {} left", self.0.len()));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    /// The next field: its number and value; `None` at the end of the message.
    fn next(&mut self) -> Result<Option<(u64, Value<'a>)>, String> {
        if self.0.is_empty() {
            return Ok(None);
        }
        let key = self.varint()?;
        let value = match key & 7 {
            0 => Value::Varint(self.varint()?),
            1 => {
                self.take(8)?;
                Value::Fixed64
            }
            2 => {
                let n = self.varint()? as usize;
                Value::Bytes(self.take(n)?)
            }
            5 => {
                let b = self.take(4)?;
                Value::Fixed32(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            }
            t => return Err(format!("wire type {t}")),
        };
        Ok(Some((key >> 3, value)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn varint(mut v: u64, out: &mut Vec<u8>) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    fn len_field(field: u64, body: &[u8], out: &mut Vec<u8>) {
        varint(field << 3 | 2, out);
        varint(body.len() as u64, out);
        out.extend_from_slice(body);
    }

    #[test]
    fn reads_raw_and_packed_float_initializers() {
        // w: shape [2, 3] in raw_data; b: shape [2] in packed float_data; an int64 tensor left out.
        let mut w = Vec::new();
        for d in [2, 3] {
            varint(1 << 3, &mut w);
            varint(d, &mut w);
        }
        varint(2 << 3, &mut w);
        varint(FLOAT, &mut w);
        len_field(8, b"w", &mut w);
        let raw: Vec<u8> = (0..6).flat_map(|i| (i as f32).to_le_bytes()).collect();
        len_field(9, &raw, &mut w);

        let mut b = Vec::new();
        len_field(1, &[2], &mut b); // packed dims
        varint(2 << 3, &mut b);
        varint(FLOAT, &mut b);
        let packed: Vec<u8> = [0.5f32, -1.0]
            .iter()
            .flat_map(|f| f.to_le_bytes())
            .collect();
        len_field(4, &packed, &mut b);
        len_field(8, b"b", &mut b);

        let mut ints = Vec::new();
        varint(2 << 3, &mut ints);
        varint(7, &mut ints); // INT64
        len_field(8, b"i", &mut ints);

        let mut node = Vec::new();
        len_field(1, b"x", &mut node);
        len_field(1, b"w", &mut node);
        len_field(3, b"the node", &mut node);
        len_field(4, b"LSTM", &mut node);

        let mut graph = Vec::new();
        len_field(1, &node, &mut graph);
        for t in [&w, &b, &ints] {
            len_field(5, t, &mut graph);
        }
        let mut model = Vec::new();
        varint(1 << 3, &mut model); // ir_version
        varint(8, &mut model);
        len_field(7, &graph, &mut model);

        let t = float_initializers(&model).unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(t["w"].dims, [2, 3]);
        assert_eq!(t["w"].data, [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(t["b"].dims, [2]);
        assert_eq!(t["b"].data, [0.5, -1.0]);
        let n = nodes(&model).unwrap();
        assert_eq!(
            n,
            [Node {
                op_type: "LSTM".into(),
                inputs: vec!["x".into(), "w".into()]
            }]
        );
        // Cut anywhere inside, the file is an error or fewer tensors, never a panic.
        for cut in 0..model.len() {
            let _ = float_initializers(&model[..cut]);
            let _ = nodes(&model[..cut]);
        }
    }
}
