// Kafka's own Java client (kafka-clients) driven by the integration tests (test_java_client.py).
//
//   java -cp CLASSES:JARS StraitJavaClient COMMAND --bootstrap HOST:PORT [options] [--set key=value ...]
//
// Commands, each printing JSON lines on stdout (client warnings go to stderr through log4j):
//
//   produce --topic T --input FILE       a producer sends every record of FILE to its partition:
//                                        {"event":"ack",...} per record, then {"event":"done",...}
//   consume --topic T --partitions N --expect COUNT
//                                        assigns partitions 0..N-1 from the beginning, reads COUNT
//                                        records (and anything extra that follows within a second)
//   group-member --topic T --group G --member NAME
//                                        a subscribed group member that commits after every poll;
//                                        prints its assignments and records; stops at "stop" or EOF
//                                        on stdin (commits, leaves the group, {"event":"closed"})
//   admin                                reads admin commands from stdin, one per line, and
//                                        answers each with one line {"ok":true,"result":...} or
//                                        {"ok":false,"error":"ExceptionClass","message":"..."}
//   init-transactions --transactional-id ID
//                                        calls initTransactions() and reports how it ended
//
// FILE has one record per line, tab-separated: partition, timestamp, key, value, headers. Key and
// value are base64, or "-" for null. Headers are comma-separated name:value pairs, both base64,
// the value "-" for null. Output uses the same base64 encoding, and null for null.
//
// Every wait is bounded (--timeout-s, default 60 s): a command never hangs a test.

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.DescribeClusterResult;
import org.apache.kafka.clients.admin.GroupListing;
import org.apache.kafka.clients.admin.ListGroupsOptions;
import org.apache.kafka.clients.admin.ListOffsetsResult;
import org.apache.kafka.clients.admin.MemberDescription;
import org.apache.kafka.clients.admin.NewPartitions;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.RecordsToDelete;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.CloseOptions;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.Metric;
import org.apache.kafka.common.MetricName;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeader;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

public final class StraitJavaClient {

    public static void main(String[] argv) throws Exception {
        if (argv.length == 0) {
            System.err.println("usage: StraitJavaClient produce|consume|group-member|admin|init-transactions ...");
            System.exit(2);
        }
        Options options = new Options(argv);
        switch (argv[0]) {
            case "produce" -> produce(options);
            case "consume" -> consume(options);
            case "group-member" -> groupMember(options);
            case "admin" -> admin(options);
            case "init-transactions" -> initTransactions(options);
            default -> {
                System.err.println("unknown command " + argv[0]);
                System.exit(2);
            }
        }
        System.exit(0); // client threads must not keep the JVM alive
    }

    // --- produce -------------------------------------------------------------------------------

    static void produce(Options options) throws Exception {
        Properties props = options.clientProperties();
        props.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        props.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        props.putIfAbsent(ProducerConfig.LINGER_MS_CONFIG, "5");
        props.putIfAbsent(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, "60000");
        props.putIfAbsent(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, "30000");
        props.putIfAbsent(ProducerConfig.MAX_BLOCK_MS_CONFIG, "30000");
        String topic = options.required("topic");
        List<String> lines = Files.readAllLines(Path.of(options.required("input")), StandardCharsets.UTF_8);

        AtomicLong acked = new AtomicLong();
        List<String> errors = java.util.Collections.synchronizedList(new ArrayList<>());
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(props)) {
            for (int index = 0; index < lines.size(); index++) {
                String[] fields = lines.get(index).split("\t", -1);
                int partition = Integer.parseInt(fields[0]);
                long timestamp = Long.parseLong(fields[1]);
                List<Header> headers = new ArrayList<>();
                if (!fields[4].isEmpty()) {
                    for (String pair : fields[4].split(",")) {
                        String[] nameValue = pair.split(":", -1);
                        headers.add(new RecordHeader(new String(decode(nameValue[0]), StandardCharsets.UTF_8),
                                                     decode(nameValue[1])));
                    }
                }
                ProducerRecord<byte[], byte[]> record = new ProducerRecord<>(
                    topic, partition, timestamp, decode(fields[2]), decode(fields[3]), headers);
                final int sent = index;
                producer.send(record, (metadata, exception) -> {
                    if (exception != null) {
                        errors.add(exception.getClass().getName() + ": " + exception.getMessage());
                    } else {
                        acked.incrementAndGet();
                        emit(map("event", "ack", "index", sent, "partition", metadata.partition(),
                                 "offset", metadata.offset(), "timestamp", metadata.timestamp()));
                    }
                });
            }
            producer.flush();
            emit(map("event", "metrics", "values", producerMetrics(producer.metrics())));
            producer.close(Duration.ofSeconds(options.timeoutSeconds()));
        }
        emit(map("event", "done", "sent", lines.size(), "acked", acked.get(), "failed", errors.size(),
                 "errors", errors.subList(0, Math.min(errors.size(), 5))));
    }

    /** The producer-wide totals a test checks: errors, retries, and what was compressed. */
    static Map<String, Object> producerMetrics(Map<MetricName, ? extends Metric> metrics) {
        Set<String> wanted = Set.of("record-error-total", "record-retry-total", "record-send-total",
                                    "compression-rate-avg", "batch-size-avg");
        Map<String, Object> values = new TreeMap<>();
        for (Map.Entry<MetricName, ? extends Metric> entry : metrics.entrySet()) {
            MetricName name = entry.getKey();
            if (name.group().equals("producer-metrics") && wanted.contains(name.name())) {
                values.put(name.name(), entry.getValue().metricValue());
            }
        }
        return values;
    }

    // --- consume -------------------------------------------------------------------------------

    static void consume(Options options) throws Exception {
        Properties props = consumerProperties(options);
        props.putIfAbsent(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        String topic = options.required("topic");
        int partitions = Integer.parseInt(options.required("partitions"));
        long expect = Long.parseLong(options.required("expect"));
        long count = 0;
        try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(props)) {
            List<TopicPartition> assigned = new ArrayList<>();
            for (int p = 0; p < partitions; p++) {
                assigned.add(new TopicPartition(topic, p));
            }
            consumer.assign(assigned);
            consumer.seekToBeginning(assigned);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(options.timeoutSeconds());
            while (count < expect && System.nanoTime() < deadline) {
                count += printRecords(consumer.poll(Duration.ofMillis(500)), null);
            }
            // Anything beyond the expected records would be a duplicate: give it a moment to show up.
            long extraDeadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(1);
            while (System.nanoTime() < extraDeadline) {
                count += printRecords(consumer.poll(Duration.ofMillis(200)), null);
            }
        }
        emit(map("event", "done", "count", count));
    }

    static int printRecords(ConsumerRecords<byte[], byte[]> records, String member) {
        for (ConsumerRecord<byte[], byte[]> record : records) {
            List<Object> headers = new ArrayList<>();
            for (Header header : record.headers()) {
                headers.add(List.of(header.key(), header.value() == null ? NULL : header.value()));
            }
            Map<String, Object> line = map("event", "record", "partition", record.partition(),
                "offset", record.offset(), "timestamp", record.timestamp(),
                "timestampType", record.timestampType().name, "key", record.key(), "value", record.value(),
                "headers", headers);
            if (member != null) {
                line.put("member", member);
            }
            emit(line);
        }
        return records.count();
    }

    static Properties consumerProperties(Options options) {
        Properties props = options.clientProperties();
        props.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        props.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        props.putIfAbsent(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        props.putIfAbsent(ConsumerConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "30000");
        return props;
    }

    // --- group-member --------------------------------------------------------------------------

    static void groupMember(Options options) throws Exception {
        Properties props = consumerProperties(options);
        String member = options.required("member");
        props.put(ConsumerConfig.GROUP_ID_CONFIG, options.required("group"));
        props.put(ConsumerConfig.CLIENT_ID_CONFIG, member);
        props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        String topic = options.required("topic");

        AtomicBoolean stop = new AtomicBoolean();
        Thread stdinWatcher = new Thread(() -> {
            try (BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8))) {
                String line;
                while ((line = in.readLine()) != null && !line.trim().equals("stop")) {
                    // only "stop" (or the end of stdin) means anything
                }
            } catch (Exception ignored) {
                // a broken stdin stops the member too
            }
            stop.set(true);
        });
        stdinWatcher.setDaemon(true);
        stdinWatcher.start();

        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(options.timeoutSeconds());
        try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(props)) {
            consumer.subscribe(List.of(topic), new ConsumerRebalanceListener() {
                @Override
                public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
                    emit(map("event", "revoked", "member", member, "partitions", partitionNumbers(partitions)));
                }

                @Override
                public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
                    emit(map("event", "assigned", "member", member, "partitions", partitionNumbers(partitions),
                             "assignment", partitionNumbers(consumer.assignment())));
                }
            });
            while (!stop.get()) {
                if (System.nanoTime() > deadline) {
                    emit(map("event", "timeout", "member", member));
                    break;
                }
                ConsumerRecords<byte[], byte[]> records = consumer.poll(Duration.ofMillis(200));
                if (printRecords(records, member) > 0) {
                    Map<TopicPartition, OffsetAndMetadata> offsets = new HashMap<>();
                    for (TopicPartition partition : records.partitions()) {
                        List<ConsumerRecord<byte[], byte[]>> those = records.records(partition);
                        offsets.put(partition, new OffsetAndMetadata(those.get(those.size() - 1).offset() + 1));
                    }
                    consumer.commitSync(offsets, Duration.ofSeconds(30));
                    Map<String, Object> committed = new TreeMap<>();
                    offsets.forEach((partition, offset) -> committed.put(
                        String.valueOf(partition.partition()), offset.offset()));
                    emit(map("event", "committed", "member", member, "offsets", committed));
                }
            }
            consumer.commitSync(Duration.ofSeconds(30));
            consumer.close(CloseOptions.timeout(Duration.ofSeconds(30)));
        }
        emit(map("event", "closed", "member", member));
    }

    static List<Integer> partitionNumbers(Collection<TopicPartition> partitions) {
        Set<Integer> numbers = new TreeSet<>();
        for (TopicPartition partition : partitions) {
            numbers.add(partition.partition());
        }
        return new ArrayList<>(numbers);
    }

    // --- admin ---------------------------------------------------------------------------------

    static void admin(Options options) throws Exception {
        Properties props = options.clientProperties();
        props.putIfAbsent(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "15000");
        props.putIfAbsent(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "30000");
        long timeout = options.timeoutSeconds();
        try (Admin admin = Admin.create(props);
             BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8))) {
            String line;
            while ((line = in.readLine()) != null) {
                String[] words = line.trim().split("\\s+");
                if (words[0].isEmpty()) {
                    continue;
                }
                try {
                    emit(map("ok", true, "result", adminCommand(admin, words, timeout)));
                } catch (ExecutionException wrapped) {
                    Throwable cause = wrapped.getCause() == null ? wrapped : wrapped.getCause();
                    emit(map("ok", false, "error", cause.getClass().getSimpleName(), "message", cause.getMessage()));
                } catch (Exception failure) {
                    emit(map("ok", false, "error", failure.getClass().getSimpleName(),
                             "message", failure.getMessage()));
                }
            }
        }
    }

    static Object adminCommand(Admin admin, String[] words, long timeout) throws Exception {
        String name = words.length > 1 ? words[1] : null;
        switch (words[0]) {
            case "create-topic": { // NAME PARTITIONS [config=value ...]
                NewTopic topic = new NewTopic(name, Integer.parseInt(words[2]), (short) 1);
                topic.configs(pairs(words, 3));
                admin.createTopics(List.of(topic)).all().get(timeout, TimeUnit.SECONDS);
                return name;
            }
            case "delete-topic": {
                admin.deleteTopics(List.of(name)).all().get(timeout, TimeUnit.SECONDS);
                return name;
            }
            case "list-topics": {
                return new ArrayList<>(new TreeSet<>(admin.listTopics().names().get(timeout, TimeUnit.SECONDS)));
            }
            case "describe-topic": {
                TopicDescription description = admin.describeTopics(List.of(name)).allTopicNames()
                    .get(timeout, TimeUnit.SECONDS).get(name);
                List<Object> partitions = new ArrayList<>();
                for (TopicPartitionInfo info : description.partitions()) {
                    partitions.add(map("partition", info.partition(), "leader", nodeId(info.leader()),
                        "replicas", info.replicas().stream().map(Node::id).toList(),
                        "isr", info.isr().stream().map(Node::id).toList()));
                }
                return map("name", description.name(), "internal", description.isInternal(),
                           "topicId", String.valueOf(description.topicId()), "partitions", partitions);
            }
            case "describe-cluster": {
                DescribeClusterResult cluster = admin.describeCluster();
                return map("clusterId", cluster.clusterId().get(timeout, TimeUnit.SECONDS),
                           "controller", nodeId(cluster.controller().get(timeout, TimeUnit.SECONDS)),
                           "nodes", cluster.nodes().get(timeout, TimeUnit.SECONDS).stream()
                               .map(node -> map("id", node.id(), "host", node.host(), "port", node.port())).toList());
            }
            case "describe-configs": { // NAME: every config of the topic
                ConfigResource resource = new ConfigResource(ConfigResource.Type.TOPIC, name);
                Config config = admin.describeConfigs(List.of(resource)).all()
                    .get(timeout, TimeUnit.SECONDS).get(resource);
                Map<String, Object> entries = new TreeMap<>();
                for (ConfigEntry entry : config.entries()) {
                    entries.put(entry.name(), map("value", entry.value() == null ? NULL : entry.value(),
                        "source", entry.source().name(), "default", entry.isDefault(),
                        "readOnly", entry.isReadOnly(), "sensitive", entry.isSensitive()));
                }
                return entries;
            }
            case "alter-configs": { // NAME set:k=v | delete:k | append:k=v | subtract:k=v ...
                ConfigResource resource = new ConfigResource(ConfigResource.Type.TOPIC, name);
                List<AlterConfigOp> ops = new ArrayList<>();
                for (int i = 2; i < words.length; i++) {
                    String[] opAndSetting = words[i].split(":", 2);
                    String[] keyValue = opAndSetting[1].split("=", 2);
                    AlterConfigOp.OpType type = AlterConfigOp.OpType.valueOf(opAndSetting[0].toUpperCase());
                    ops.add(new AlterConfigOp(new ConfigEntry(keyValue[0], keyValue.length > 1 ? keyValue[1] : null),
                                              type));
                }
                admin.incrementalAlterConfigs(Map.of(resource, ops)).all().get(timeout, TimeUnit.SECONDS);
                return name;
            }
            case "create-partitions": { // NAME TOTAL
                admin.createPartitions(Map.of(name, NewPartitions.increaseTo(Integer.parseInt(words[2]))))
                    .all().get(timeout, TimeUnit.SECONDS);
                return name;
            }
            case "list-offsets": { // NAME earliest|latest|max-timestamp|<timestamp ms>
                int partitions = admin.describeTopics(List.of(name)).allTopicNames()
                    .get(timeout, TimeUnit.SECONDS).get(name).partitions().size();
                OffsetSpec spec = switch (words[2]) {
                    case "earliest" -> OffsetSpec.earliest();
                    case "latest" -> OffsetSpec.latest();
                    case "max-timestamp" -> OffsetSpec.maxTimestamp();
                    default -> OffsetSpec.forTimestamp(Long.parseLong(words[2]));
                };
                Map<TopicPartition, OffsetSpec> request = new HashMap<>();
                for (int p = 0; p < partitions; p++) {
                    request.put(new TopicPartition(name, p), spec);
                }
                Map<TopicPartition, ListOffsetsResult.ListOffsetsResultInfo> answer =
                    admin.listOffsets(request).all().get(timeout, TimeUnit.SECONDS);
                Map<String, Object> result = new TreeMap<>();
                answer.forEach((partition, info) -> result.put(String.valueOf(partition.partition()),
                    map("offset", info.offset(), "timestamp", info.timestamp())));
                return result;
            }
            case "delete-records": { // NAME PARTITION=BEFORE_OFFSET ...
                Map<TopicPartition, RecordsToDelete> request = new HashMap<>();
                pairs(words, 2).forEach((partition, before) -> request.put(
                    new TopicPartition(name, Integer.parseInt(partition)),
                    RecordsToDelete.beforeOffset(Long.parseLong(before))));
                Map<String, Object> result = new TreeMap<>();
                for (var entry : admin.deleteRecords(request).lowWatermarks().entrySet()) {
                    result.put(String.valueOf(entry.getKey().partition()),
                               entry.getValue().get(timeout, TimeUnit.SECONDS).lowWatermark());
                }
                return result;
            }
            case "list-groups": { // consumer groups (Admin.listGroups, which replaces listConsumerGroups)
                Collection<GroupListing> listings = admin.listGroups(ListGroupsOptions.forConsumerGroups()).all()
                    .get(timeout, TimeUnit.SECONDS);
                List<Object> groups = new ArrayList<>();
                for (GroupListing listing : listings) {
                    groups.add(map("group", listing.groupId(), "protocol", listing.protocol(),
                        "state", listing.groupState().map(Enum::name).orElse("(none)"),
                        "type", listing.type().map(Enum::name).orElse("(none)"),
                        "simple", listing.isSimpleConsumerGroup()));
                }
                return groups;
            }
            case "list-consumer-groups": { // the older call, deprecated in 4.x
                @SuppressWarnings({"removal", "deprecation"})
                List<Object> groups = admin.listConsumerGroups().all().get(timeout, TimeUnit.SECONDS).stream()
                    .map(listing -> (Object) map("group", listing.groupId(),
                        "state", listing.groupState().map(Enum::name).orElse("(none)"),
                        "simple", listing.isSimpleConsumerGroup()))
                    .toList();
                return groups;
            }
            case "describe-group": {
                ConsumerGroupDescription group = admin.describeConsumerGroups(List.of(name)).all()
                    .get(timeout, TimeUnit.SECONDS).get(name);
                List<Object> members = new ArrayList<>();
                for (MemberDescription member : group.members()) {
                    members.add(map("consumerId", member.consumerId(), "clientId", member.clientId(),
                        "host", member.host(), "assignment", partitionNumbers(member.assignment().topicPartitions())));
                }
                return map("group", group.groupId(), "state", group.groupState().name(),
                           "type", String.valueOf(group.type()), "assignor", group.partitionAssignor(),
                           "simple", group.isSimpleConsumerGroup(), "coordinator", nodeId(group.coordinator()),
                           "members", members);
            }
            case "list-group-offsets": {
                Map<TopicPartition, OffsetAndMetadata> offsets = admin.listConsumerGroupOffsets(name)
                    .partitionsToOffsetAndMetadata().get(timeout, TimeUnit.SECONDS);
                Map<String, Object> result = new TreeMap<>();
                offsets.forEach((partition, offset) -> result.put(partition.topic() + ":" + partition.partition(),
                    offset == null ? NULL : map("offset", offset.offset(), "metadata", offset.metadata(),
                                                "leaderEpoch", offset.leaderEpoch().orElse(-1))));
                return result;
            }
            case "alter-group-offsets": { // GROUP TOPIC PARTITION=OFFSET ...
                String topic = words[2];
                Map<TopicPartition, OffsetAndMetadata> offsets = new HashMap<>();
                pairs(words, 3).forEach((partition, offset) -> offsets.put(
                    new TopicPartition(topic, Integer.parseInt(partition)),
                    new OffsetAndMetadata(Long.parseLong(offset), "set by the Java admin client")));
                admin.alterConsumerGroupOffsets(name, offsets).all().get(timeout, TimeUnit.SECONDS);
                return name;
            }
            case "delete-group-offsets": { // GROUP TOPIC PARTITION ...
                Set<TopicPartition> partitions = new java.util.HashSet<>();
                for (int i = 3; i < words.length; i++) {
                    partitions.add(new TopicPartition(words[2], Integer.parseInt(words[i])));
                }
                admin.deleteConsumerGroupOffsets(name, partitions).all().get(timeout, TimeUnit.SECONDS);
                return name;
            }
            case "delete-group": {
                admin.deleteConsumerGroups(List.of(name)).all().get(timeout, TimeUnit.SECONDS);
                return name;
            }
            default:
                throw new IllegalArgumentException("unknown admin command " + words[0]);
        }
    }

    static Object nodeId(Node node) {
        return node == null ? NULL : node.id();
    }

    /** words[from...] as key=value pairs, in order. */
    static Map<String, String> pairs(String[] words, int from) {
        Map<String, String> result = new LinkedHashMap<>();
        for (int i = from; i < words.length; i++) {
            String[] keyValue = words[i].split("=", 2);
            result.put(keyValue[0], keyValue[1]);
        }
        return result;
    }

    // --- init-transactions ---------------------------------------------------------------------

    static void initTransactions(Options options) {
        Properties props = options.clientProperties();
        props.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        props.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        props.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, options.required("transactional-id"));
        KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(props);
        long started = System.nanoTime();
        try {
            producer.initTransactions();
            emit(map("event", "init-transactions", "ok", true,
                     "elapsedMs", TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started)));
        } catch (Exception failure) {
            long elapsed = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started);
            List<Object> causes = new ArrayList<>();
            for (Throwable cause = failure.getCause(); cause != null; cause = cause.getCause()) {
                causes.add(cause.getClass().getName() + ": " + cause.getMessage());
            }
            emit(map("event", "init-transactions", "ok", false, "elapsedMs", elapsed,
                     "error", failure.getClass().getName(), "message", String.valueOf(failure.getMessage()),
                     "causes", causes));
        } finally {
            producer.close(Duration.ofSeconds(5));
        }
    }

    // --- options, base64, JSON -----------------------------------------------------------------

    /** --name value options; --set key=value (repeatable) goes straight into the client's config. */
    static final class Options {
        final Map<String, String> named = new HashMap<>();
        final Map<String, String> clientConfig = new LinkedHashMap<>();

        Options(String[] argv) {
            for (int i = 1; i < argv.length; i += 2) {
                if (!argv[i].startsWith("--") || i + 1 >= argv.length) {
                    throw new IllegalArgumentException("expected --name value at " + argv[i]);
                }
                if (argv[i].equals("--set")) {
                    String[] keyValue = argv[i + 1].split("=", 2);
                    clientConfig.put(keyValue[0], keyValue[1]);
                } else {
                    named.put(argv[i].substring(2), argv[i + 1]);
                }
            }
        }

        String required(String name) {
            String value = named.get(name);
            if (value == null) {
                throw new IllegalArgumentException("--" + name + " is required");
            }
            return value;
        }

        long timeoutSeconds() {
            return Long.parseLong(named.getOrDefault("timeout-s", "60"));
        }

        Properties clientProperties() {
            Properties props = new Properties();
            props.put("bootstrap.servers", required("bootstrap"));
            props.putAll(clientConfig);
            return props;
        }
    }

    static byte[] decode(String field) {
        return field.equals("-") ? null : Base64.getDecoder().decode(field);
    }

    /** JSON null inside List.of / Map.of, which take no nulls. */
    static final Object NULL = new Object();

    static Map<String, Object> map(Object... keysAndValues) {
        Map<String, Object> result = new LinkedHashMap<>();
        for (int i = 0; i < keysAndValues.length; i += 2) {
            result.put((String) keysAndValues[i], keysAndValues[i + 1]);
        }
        return result;
    }

    static synchronized void emit(Map<String, Object> line) {
        StringBuilder out = new StringBuilder();
        json(line, out);
        System.out.println(out);
        System.out.flush();
    }

    /** Maps, lists, strings, numbers, booleans, null; byte arrays as base64 strings. */
    static void json(Object value, StringBuilder out) {
        if (value == null || value == NULL) {
            out.append("null");
        } else if (value instanceof byte[] bytes) {
            out.append('"').append(Base64.getEncoder().encodeToString(bytes)).append('"');
        } else if (value instanceof Map<?, ?> map) {
            out.append('{');
            boolean first = true;
            for (Map.Entry<?, ?> entry : map.entrySet()) {
                if (!first) {
                    out.append(',');
                }
                first = false;
                json(String.valueOf(entry.getKey()), out);
                out.append(':');
                json(entry.getValue(), out);
            }
            out.append('}');
        } else if (value instanceof Collection<?> list) {
            out.append('[');
            boolean first = true;
            for (Object item : list) {
                if (!first) {
                    out.append(',');
                }
                first = false;
                json(item, out);
            }
            out.append(']');
        } else if (value instanceof Boolean) {
            out.append(value);
        } else if (value instanceof Number number) {
            double asDouble = number.doubleValue();
            out.append(Double.isFinite(asDouble) ? number.toString() : "null");
        } else {
            String text = value.toString();
            out.append('"');
            for (int i = 0; i < text.length(); i++) {
                char c = text.charAt(i);
                switch (c) {
                    case '"' -> out.append("\\\"");
                    case '\\' -> out.append("\\\\");
                    case '\n' -> out.append("\\n");
                    case '\r' -> out.append("\\r");
                    case '\t' -> out.append("\\t");
                    default -> {
                        if (c < 0x20) {
                            out.append(String.format("\\u%04x", (int) c));
                        } else {
                            out.append(c);
                        }
                    }
                }
            }
            out.append('"');
        }
    }
}
