// swift-tools-version: 6.0
import PackageDescription

let upcoming: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "exp",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "exp", targets: ["exp"]),
        .library(name: "ExpCore", targets: ["ExpCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
    ],
    targets: [
        .systemLibrary(
            name: "CLibGit2",
            pkgConfig: "libgit2",
            providers: [.apt(["libgit2-dev"])]
        ),
        .systemLibrary(
            name: "CLibCrypto",
            pkgConfig: "libcrypto",
            providers: [.apt(["libssl-dev"])]
        ),
        .target(name: "ExpGit", dependencies: ["CLibGit2", "CLibCrypto"], swiftSettings: upcoming),
        .target(
            name: "ExpCore",
            dependencies: [
                "ExpGit",
                "CLibCrypto",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: upcoming
        ),
        .executableTarget(
            name: "exp",
            dependencies: [
                "ExpCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            // The CLI imports ExpCore only; ExpGit's plain values (ObjectID) reach it through
            // ExpCore's API, so their members must be visible without importing ExpGit.
            swiftSettings: [.enableUpcomingFeature("ExistentialAny")]
        ),
        // Fixtures for bench/ (thousands of runs written straight through ExpCore).
        .executableTarget(name: "exp-bench", dependencies: ["ExpCore"], swiftSettings: upcoming),
        .target(
            name: "ExpTestSupport",
            dependencies: ["ExpCore"],
            path: "Tests/ExpTestSupport",
            swiftSettings: upcoming
        ),
        .testTarget(
            name: "ExpGitTests",
            dependencies: ["ExpGit", "ExpTestSupport"],
            swiftSettings: upcoming
        ),
        .testTarget(
            name: "ExpCoreTests",
            dependencies: ["ExpCore", "ExpGit", "ExpTestSupport"],
            exclude: ["Fixtures"],
            swiftSettings: upcoming
        ),
        .testTarget(
            name: "ExpCLITests",
            dependencies: ["ExpTestSupport", "exp"],
            exclude: ["Golden"],
            swiftSettings: upcoming
        ),
    ],
    swiftLanguageModes: [.v6]
)
