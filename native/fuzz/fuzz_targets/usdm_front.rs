//! The simulated venue's USD-M front: any sequence of `/fapi` requests (route, account, decoded
//! parameters, including `batchOrders` / `orderIdList` JSON) gets a Binance-shaped reply, never a
//! panic, and leaves every futures invariant intact (positions net to zero, ledgers balance).
#![no_main]

use libfuzzer_sys::fuzz_target;

const DOGEUSDT_USDM: &str = include_str!("../../../config/instruments/DOGEUSDT.usdm.toml");

fuzz_target!(|data: &[u8]| {
    let Ok(master) = _native::model::InstrumentMaster::from_toml_str(DOGEUSDT_USDM) else {
        return;
    };
    let Some(inst) = master.iter().next().cloned() else {
        return;
    };
    _native::venue::binance_usdm::fuzz_front(inst, data);
});
