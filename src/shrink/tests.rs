use super::*;

#[test]
fn shorter_lengths_are_whole_milliseconds_shortest_first() {
    let ms = Duration::from_millis;
    assert_eq!(shorter(ms(1), ms(1_601)), [ms(1), ms(101), ms(201), ms(401), ms(801)]);
    // Nothing shorter than the floor, nothing as long as the length.
    assert_eq!(shorter(ms(5), ms(5)), []);
    assert_eq!(shorter(ms(5), ms(6)), [ms(5)]);
    assert_eq!(shorter(Duration::from_nanos(1_500_000), ms(3)), [ms(2)]);
}
