/// The version of selfheal, reported by `{"op":"ping"}` and `selfheal --version`.
public enum SelfHealVersion {
    /// `X.Y.Z`.
    public static let current = "0.1.0"
}
