import Foundation
import Replicator

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// Reads a replicator's `/status` (what `strait status` and a failover read).
public enum StatusClient {
    public enum Failure: Error, CustomStringConvertible {
        /// Nothing answered at the address (or not in time).
        case unreachable(url: URL, reason: String)
        /// Something answered, not with Strait's status JSON.
        case notStatusJSON(url: URL, reason: String)

        public var description: String {
            switch self {
            case let .unreachable(url, reason): "no replicator answers at \(url): \(reason)"
            case let .notStatusJSON(url, reason): "the answer at \(url) is not Strait's status JSON: \(reason)"
            }
        }
    }

    /// `http://HOST:PORT/status` of a topology's status address.
    public static func url(host: String, port: Int) -> URL {
        let bracketed = host.contains(":") ? "[\(host)]" : host
        return URL(string: "http://\(bracketed):\(port)/status")!
    }

    /// The JSON as served, and its links.
    public static func fetch(_ url: URL, timeout: TimeInterval) async throws -> (
        json: Data, links: [LinkStatus.Snapshot]
    ) {
        var request = URLRequest(url: url)
        request.timeoutInterval = timeout
        let data: Data
        do {
            (data, _) = try await URLSession.shared.data(for: request)
        } catch {
            throw Failure.unreachable(url: url, reason: error.localizedDescription)
        }
        do {
            return (data, try JSONDecoder().decode([LinkStatus.Snapshot].self, from: data))
        } catch {
            throw Failure.notStatusJSON(url: url, reason: "\(error)")
        }
    }
}
