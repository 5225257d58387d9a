// A Kafka cluster for the --kafka tests, without a JVM: librdkafka's mock cluster, which
// serves the real protocol on 127.0.0.1 ports.
//
//   kafka_mock BROKERS TOPIC PARTITIONS
//
// Prints "bootstrap HOST:PORT,..." and then reads commands, one a line, answering "ok" (or
// "error ..."):
//   down [B]      every broker (or broker B alone) stops taking connections (their ports stay
//                 theirs)
//   up [B]        every broker (or broker B) takes them again
//   leader P B    broker B leads partition P of TOPIC
//   missing T     topic T is said not to exist
//   produce-error E [N]  the next produce request (the next N) is answered with Kafka error code E
// End of input ends it.
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: kafka_mock BROKERS TOPIC PARTITIONS\n");
    return 2;
  }
  const int brokers = std::atoi(argv[1]);
  const std::string topic = argv[2];
  const int partitions = std::atoi(argv[3]);
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  // The handle only carries the cluster: quiet.
  rd_kafka_conf_set(conf, "log_level", "0", err, sizeof err);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (rk == nullptr) {
    std::fprintf(stderr, "kafka_mock: %s\n", err);
    return 1;
  }
  rd_kafka_mock_cluster_t* cluster = rd_kafka_mock_cluster_new(rk, brokers);
  if (cluster == nullptr) {
    std::fprintf(stderr, "kafka_mock: cannot start a mock cluster\n");
    return 1;
  }
  if (rd_kafka_mock_topic_create(cluster, topic.c_str(), partitions, brokers < 3 ? brokers : 3) !=
      RD_KAFKA_RESP_ERR_NO_ERROR) {
    std::fprintf(stderr, "kafka_mock: cannot create topic %s\n", topic.c_str());
    return 1;
  }
  std::printf("bootstrap %s\n", rd_kafka_mock_cluster_bootstraps(cluster));
  std::fflush(stdout);
  std::string line;
  while (std::getline(std::cin, line)) {
    std::istringstream in(line);
    std::string what;
    in >> what;
    rd_kafka_resp_err_t rc = RD_KAFKA_RESP_ERR_NO_ERROR;
    if (what == "down" || what == "up") {
      int only = 0;
      if (!(in >> only)) only = 0;
      for (int b = 1; b <= brokers && rc == RD_KAFKA_RESP_ERR_NO_ERROR; ++b) {
        if (only != 0 && b != only) continue;
        rc = what == "down" ? rd_kafka_mock_broker_set_down(cluster, b)
                            : rd_kafka_mock_broker_set_up(cluster, b);
      }
    } else if (what == "leader") {
      int partition = -1, broker = -1;
      in >> partition >> broker;
      rc = rd_kafka_mock_partition_set_leader(cluster, topic.c_str(), partition, broker);
    } else if (what == "produce-error") {
      int code = 0;
      size_t times = 1;
      in >> code;
      if (!(in >> times)) times = 1;
      std::vector<rd_kafka_resp_err_t> errors(times, static_cast<rd_kafka_resp_err_t>(code));
      rd_kafka_mock_push_request_errors_array(cluster, 0 /* Produce */, errors.size(),
                                              errors.data());
    } else if (what == "missing") {
      std::string name;
      in >> name;
      rd_kafka_mock_topic_set_error(cluster, name.c_str(), RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART);
    } else {
      std::printf("error unknown command '%s'\n", what.c_str());
      std::fflush(stdout);
      continue;
    }
    if (rc != RD_KAFKA_RESP_ERR_NO_ERROR) {
      std::printf("error %s\n", rd_kafka_err2str(rc));
    } else {
      std::printf("ok\n");
    }
    std::fflush(stdout);
  }
  rd_kafka_mock_cluster_destroy(cluster);
  rd_kafka_destroy(rk);
  return 0;
}
