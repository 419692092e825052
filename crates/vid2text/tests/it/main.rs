//! End-to-end tests: the real `vid2text` binary, real FFmpeg, real models (installed by
//! `scripts/setup.sh`), real recordings and videos from `../shared/data`.

mod util;

mod asr;
mod captions;
mod cluster;
mod corpus;
mod help;
mod hostile;
mod inputs;
mod ocr;
mod outputs;
mod packing;
mod promises;
mod robust;
