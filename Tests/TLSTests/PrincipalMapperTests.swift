import TLS
import XCTest

final class PrincipalMapperTests: XCTestCase {
    func testKafkaDocumentationRules() throws {
        let mapper = try PrincipalMapper(
            rules: """
                RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/,
                RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/L,
                RULE:^.*[Cc][Nn]=([a-zA-Z0-9.]*).*$/$1/L,
                DEFAULT
                """)
        XCTAssertEqual(mapper.rules.count, 4)
        XCTAssertEqual(
            mapper.name(forSubject: "CN=serviceuser,OU=ServiceUsers,O=Unknown,L=Unknown,ST=Unknown,C=Unknown"),
            "serviceuser")
        XCTAssertEqual(
            mapper.name(forSubject: "CN=adminUser,OU=Admin,O=Unknown,L=Unknown,ST=Unknown,C=Unknown"), "adminuser@admin"
        )
        XCTAssertEqual(mapper.name(forSubject: "OU=X,CN=Bob.Smith"), "bob.smith")
        XCTAssertEqual(mapper.name(forSubject: "O=NoCommonName"), "O=NoCommonName")
    }

    func testUpperCaseEscapedSlashAndNoMatch() throws {
        let mapper = try PrincipalMapper(rules: #"RULE:^CN=([^,]*),O=a\/b$/$1\/x/U"#)
        XCTAssertEqual(mapper.name(forSubject: "CN=bob,O=a/b"), "BOB/X")
        XCTAssertNil(mapper.name(forSubject: "CN=bob,O=other"), "no rule applies, no DEFAULT")
        XCTAssertNil(mapper.principal(forSubject: "CN=bob,O=other"))
        XCTAssertEqual(mapper.principal(forSubject: nil), "User:ANONYMOUS")
    }

    func testPatternMustMatchTheWholeSubject() throws {
        let mapper = try PrincipalMapper(rules: "RULE:CN=([a-z]+)/$1/,DEFAULT")
        XCTAssertEqual(mapper.name(forSubject: "CN=alice"), "alice")
        XCTAssertEqual(mapper.name(forSubject: "CN=alice,O=Example"), "CN=alice,O=Example")
    }

    func testEmptyRulesMeanDefaultAndInvalidRulesThrow() throws {
        XCTAssertEqual(try PrincipalMapper(rules: "").principal(forSubject: "CN=a"), "User:CN=a")
        let listed = try PrincipalMapper(ruleStrings: ["RULE:^CN=([^,]*),O=x$/$1/L", "DEFAULT"])
        XCTAssertEqual(listed.rules.count, 2)
        XCTAssertEqual(listed.name(forSubject: "CN=Bob,O=x"), "bob")
        XCTAssertEqual(listed.name(forSubject: "CN=Bob"), "CN=Bob")
        XCTAssertThrowsError(try PrincipalMapper(rules: "RULE:^CN=(.*)$/$1"))
        XCTAssertThrowsError(try PrincipalMapper(rules: "NOPE"))
        XCTAssertThrowsError(try PrincipalMapper(rules: "RULE:^CN=((.*$/$1/"))
        XCTAssertThrowsError(try PrincipalMapper(rules: "DEFAULT junk"))
    }
}
