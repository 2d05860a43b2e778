import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DatabaseMetaData;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;

/**
 * Drives the Trino JDBC driver against the gateway the way a BI tool does, and prints what it
 * sees as tab-separated lines for tests/e2e/test_clients.py to check:
 *
 * <pre>
 *   catalog  CAT
 *   schema   CAT SCHEMA
 *   table    CAT SCHEMA TABLE TYPE
 *   column   CAT SCHEMA TABLE COLUMN TYPE_NAME
 *   table_type TYPE                  (and: types N, procedures N, primary_keys N, counts)
 *   columns  NAME...                 (labels of the scenario's result)
 *   row      VALUE...                (every row of the scenario)
 *   param    VALUE                   (a prepared statement with one parameter)
 *   STEP-error MESSAGE               (a step's error: scenario-error, param-error,
 *                                     refused-error)
 *   product  NAME VERSION
 * </pre>
 *
 * Arguments: JDBC URL, user, file with the scenario SQL, refused SQL, parameterised SQL,
 * its parameter.
 */
public final class JdbcSmoke {
    private JdbcSmoke() {}

    public static void main(String[] args) throws Exception {
        Properties properties = new Properties();
        properties.setProperty("user", args[1]);
        String scenario = Files.readString(Path.of(args[2]), StandardCharsets.UTF_8);
        try (Connection connection = DriverManager.getConnection(args[0], properties)) {
            DatabaseMetaData meta = connection.getMetaData();
            print("product", meta.getDatabaseProductName(), meta.getDatabaseProductVersion());
            browse(meta);
            step("scenario", () -> runScenario(connection, scenario));
            step("param", () -> runParameterised(connection, args[4], args[5]));
            step("refused", () -> runScenario(connection, args[3]));
        }
    }

    private interface Step {
        void run() throws SQLException;
    }

    /** Runs one step; a refusal is printed as {@code NAME-error MESSAGE}, not thrown. */
    private static void step(String name, Step step) {
        try {
            step.run();
        } catch (SQLException error) {
            print(name + "-error", error.getMessage().replace('\n', ' '));
        }
    }

    private static void browse(DatabaseMetaData meta) throws SQLException {
        List<String> catalogs = new ArrayList<>();
        try (ResultSet rs = meta.getCatalogs()) {
            while (rs.next()) {
                catalogs.add(rs.getString("TABLE_CAT"));
                print("catalog", rs.getString("TABLE_CAT"));
            }
        }
        for (String catalog : catalogs) {
            try (ResultSet rs = meta.getSchemas(catalog, null)) {
                while (rs.next()) {
                    print("schema", rs.getString("TABLE_CATALOG"), rs.getString("TABLE_SCHEM"));
                }
            }
        }
        try (ResultSet rs = meta.getTables(null, null, "%", new String[] {"TABLE", "VIEW"})) {
            while (rs.next()) {
                print("table", rs.getString("TABLE_CAT"), rs.getString("TABLE_SCHEM"),
                        rs.getString("TABLE_NAME"), rs.getString("TABLE_TYPE"));
            }
        }
        try (ResultSet rs = meta.getTableTypes()) {
            while (rs.next()) {
                print("table_type", rs.getString("TABLE_TYPE"));
            }
        }
        print("types", String.valueOf(count(meta.getTypeInfo())));
        print("procedures", String.valueOf(count(meta.getProcedures(null, null, "%"))));
        print("primary_keys", String.valueOf(count(meta.getPrimaryKeys(null, "public", "x"))));
        try (ResultSet rs = meta.getColumns(null, null, "%", "%")) {
            while (rs.next()) {
                print("column", rs.getString("TABLE_CAT"), rs.getString("TABLE_SCHEM"),
                        rs.getString("TABLE_NAME"), rs.getString("COLUMN_NAME"),
                        rs.getString("TYPE_NAME"));
            }
        }
    }

    private static int count(ResultSet rs) throws SQLException {
        int rows = 0;
        try (rs) {
            while (rs.next()) {
                rows++;
            }
        }
        return rows;
    }

    private static void runScenario(Connection connection, String sql) throws SQLException {
        try (Statement statement = connection.createStatement();
                ResultSet rs = statement.executeQuery(sql)) {
            ResultSetMetaData columns = rs.getMetaData();
            List<String> labels = new ArrayList<>();
            for (int i = 1; i <= columns.getColumnCount(); i++) {
                labels.add(columns.getColumnLabel(i));
            }
            print("columns", labels.toArray(new String[0]));
            while (rs.next()) {
                String[] values = new String[columns.getColumnCount()];
                for (int i = 1; i <= values.length; i++) {
                    values[i - 1] = String.valueOf(rs.getString(i));
                }
                print("row", values);
            }
        }
    }

    private static void runParameterised(Connection connection, String sql, String value)
            throws SQLException {
        try (PreparedStatement statement = connection.prepareStatement(sql)) {
            statement.setString(1, value);
            try (ResultSet rs = statement.executeQuery()) {
                while (rs.next()) {
                    print("param", String.valueOf(rs.getString(1)));
                }
            }
        }
    }

    private static void print(String kind, String... values) {
        StringBuilder line = new StringBuilder(kind);
        for (String value : values) {
            line.append('\t').append(value);
        }
        System.out.println(line);
    }
}
