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

#[test]
fn rounder_times_and_rates_are_nearby_and_roundest_first() {
    let ms = Duration::from_millis;
    let time = Duration::from_nanos(36_456_004_447);
    assert_eq!(rounder(time, ms(0)), [ms(36_000), ms(36_500), ms(36_460), ms(36_456)]);
    // Never below the floor, never the time itself.
    assert_eq!(rounder(ms(1_200), ms(1_100)), Vec::<Duration>::new());
    assert_eq!(rounder(ms(400), ms(1)), Vec::<Duration>::new());
    assert_eq!(rounder_rate(0.477_732_467_65), [0.5, 0.48, 0.478]);
    // Never 0, never the rate itself.
    assert_eq!(rounder_rate(0.04), Vec::<f64>::new());
    assert_eq!(rounder_rate(0.0123), [0.01, 0.012]);
}
