import GroupCoordination
import KafkaProtocol
import XCTest
@testable import BrokerCore

/// The dispatch switch is over `BrokerAPI` (no `default:`): these check the enum itself.
final class DispatchTests: XCTestCase {
    func testEveryServedAPIIsAKafkaProtocolKeyWithItsOwnNumber() {
        for api in BrokerAPI.allCases {
            XCTAssertEqual(api.key.rawValue, api.rawValue)
        }
        XCTAssertEqual(Set(BrokerAPI.allCases.map(\.rawValue)).count, BrokerAPI.allCases.count)
    }

    func testTheGroupAPIsAdvertiseWhatTheCoordinatorImplements() {
        for (key, versions) in GroupCoordinator.supportedVersions {
            let api = BrokerAPI(rawValue: key.rawValue)
            XCTAssertNotNil(api, "\(key) is implemented by the coordinator but not served")
            XCTAssertEqual(api?.versions, versions)
        }
    }

    func testKafkaKeysTheBrokerDoesNotServeAreNotAdvertised() {
        for key in [APIKey.offsetForLeaderEpoch, .addPartitionsToTxn, .endTxn, .describeProducers] {
            XCTAssertNil(BrokerAPI(rawValue: key.rawValue))
            XCTAssertFalse(SupportedAPIs.versions.contains { $0.0 == key })
        }
    }
}
