//! A first loom model over the production SPSC code: proves that the `sync` shim
//! and the heap `Region` let loom explore the real algorithm. The full set of
//! models lives in `loom-tests/`.
//!
//! `RUSTFLAGS="--cfg loom" cargo test -p shmlane --test loom_smoke --release`
#![cfg(loom)]

use shmlane::{Error, Ring};

#[test]
fn spsc_messages_cross_the_wrap_in_order() {
    model_spsc(false);
}

#[test]
fn spsc_fixed_size_messages_cross_the_wrap_in_order() {
    model_spsc(true);
}

fn model_spsc(fixed_size: bool) {
    loom::model(move || {
        let slot_size = if fixed_size { 8 } else { 16 }; // 8 bytes of payload either way
        let ring = Ring::spsc_on_heap(2, slot_size, fixed_size).unwrap();
        let mut producer = ring.producer().unwrap();
        let mut consumer = ring.consumer().unwrap();
        let sender = loom::thread::spawn(move || {
            for i in 0..3u8 {
                loop {
                    match producer.try_send(&[i; 8]) {
                        Ok(()) => break,
                        Err(Error::Full) => loom::thread::yield_now(),
                        Err(e) => panic!("{e}"),
                    }
                }
            }
        });
        for i in 0..3u8 {
            loop {
                match consumer.try_read() {
                    Ok(message) => {
                        assert_eq!(&*message, &[i; 8]);
                        break;
                    }
                    Err(Error::Empty) => loom::thread::yield_now(),
                    Err(e) => panic!("{e}"),
                }
            }
        }
        sender.join().unwrap();
    });
}
