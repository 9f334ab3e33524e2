// Steps through an XForm in JavaRosa (ODK Collect's form engine, as shipped in pyxform's
// ODK Validate jar) the way Collect does: one event at a time, answering each question a grid
// worker would answer, adding repeats when asked, then finalising and serialising the
// engine's own instance. The tests send that instance to /submission.
//
// Usage: java -cp ODK_Validate.jar:<classes> CollectDriver form.xml media-dir script.json out.json
//
// script.json: {"properties": {"deviceid": "...", "username": "..."},
//               "runs": [{"name": "...", "answers": {"/data/page/q": "value", ...},
//                         "repeats": {"/data/page/members": 3}}]}
// Keys carry 1-based repeat positions: /data/page_members/members[2]/name.
// out.json: one object per run: every question event (path, type, value before and after,
// whether it was read-only or answered, the engine's verdict and message), the outcome of
// Collect's final validation and the serialised instance.
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.File;
import java.io.FileInputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.HashSet;
import org.javarosa.core.model.GroupDef;
import org.javarosa.core.model.IFormElement;
import org.javarosa.core.model.Constants;
import org.javarosa.core.model.FormDef;
import org.javarosa.core.model.FormIndex;
import org.javarosa.core.model.SelectChoice;
import org.javarosa.core.model.ValidateOutcome;
import org.javarosa.core.model.data.IAnswerData;
import org.javarosa.core.model.data.SelectMultiData;
import org.javarosa.core.model.data.SelectOneData;
import org.javarosa.core.model.data.StringData;
import org.javarosa.core.model.data.UncastData;
import org.javarosa.core.model.data.helper.Selection;
import org.javarosa.core.model.instance.InstanceInitializationFactory;
import org.javarosa.core.model.instance.TreeReference;
import org.javarosa.core.model.data.AnswerDataFactory;
import org.javarosa.core.reference.Reference;
import org.javarosa.core.reference.ReferenceFactory;
import org.javarosa.core.reference.ReferenceManager;
import org.javarosa.core.services.IPropertyManager;
import org.javarosa.core.services.PropertyManager;
import org.javarosa.core.services.properties.IPropertyRules;
import org.javarosa.form.api.FormEntryController;
import org.javarosa.form.api.FormEntryModel;
import org.javarosa.form.api.FormEntryPrompt;
import org.javarosa.model.xform.XFormSerializingVisitor;
import org.javarosa.xform.util.XFormUtils;

public class CollectDriver {
    public static void main(String[] args) throws Exception {
        File form = new File(args[0]);
        File media = new File(args[1]);
        ObjectMapper json = new ObjectMapper();
        JsonNode script = json.readTree(new File(args[2]));

        ReferenceManager.instance().addReferenceFactory(new MediaFolder(media));
        Map<String, String> properties = new HashMap<>();
        script.path("properties").fields().forEachRemaining(e -> properties.put(e.getKey(), e.getValue().asText()));
        PropertyManager.setPropertyManager(new DeviceProperties(properties));

        ArrayNode out = json.createArrayNode();
        for (JsonNode run : script.path("runs")) {
            out.add(fill(json, form, run));
        }
        json.writerWithDefaultPrettyPrinter().writeValue(new File(args[3]), out);
    }

    static ObjectNode fill(ObjectMapper json, File form, JsonNode run) throws Exception {
        FormDef fd;
        try (InputStream in = new FileInputStream(form)) {
            fd = XFormUtils.getFormFromInputStream(in);
        }
        REPEATS.clear();
        findRepeats(fd);
        FormEntryModel model = new FormEntryModel(fd);
        FormEntryController fec = new FormEntryController(model);
        fd.initialize(true, new InstanceInitializationFactory());

        JsonNode answers = run.path("answers");
        JsonNode repeats = run.path("repeats");
        Map<String, Integer> added = new HashMap<>();
        ObjectNode result = json.createObjectNode();
        result.put("name", run.path("name").asText());
        ArrayNode events = result.putArray("events");

        for (int event = fec.stepToNextEvent(); event != FormEntryController.EVENT_END_OF_FORM;
                event = fec.stepToNextEvent()) {
            if (event == FormEntryController.EVENT_PROMPT_NEW_REPEAT) {
                String path = generic(model.getFormIndex().getReference());
                int have = added.getOrDefault(path, 0);
                if (have < repeats.path(path).asInt(0)) {
                    fec.newRepeat();
                    added.put(path, have + 1);
                }
                continue;
            }
            if (event != FormEntryController.EVENT_QUESTION) {
                continue;
            }
            FormEntryPrompt prompt = model.getQuestionPrompt();
            String path = path(model.getFormIndex().getReference());
            ObjectNode row = events.addObject();
            row.put("path", path);
            row.put("control", prompt.getControlType());
            row.put("datatype", prompt.getDataType());
            row.put("readonly", prompt.isReadOnly());
            row.put("required", prompt.isRequired());
            row.put("before", text(prompt.getAnswerValue()));
            if (!answers.has(path)) {
                continue;
            }
            String wanted = answers.get(path).asText();
            IAnswerData data;
            try {
                data = answer(prompt, wanted);
            } catch (IllegalArgumentException e) {
                row.put("verdict", "no_such_choice");
                row.put("message", e.getMessage());
                continue;
            }
            int verdict = fec.answerQuestion(model.getFormIndex(), data, true);
            row.put("answered", true);
            if (verdict == FormEntryController.ANSWER_OK) {
                row.put("verdict", "ok");
            } else if (verdict == FormEntryController.ANSWER_CONSTRAINT_VIOLATED) {
                row.put("verdict", "constraint");
                row.put("message", prompt.getConstraintText(data));
            } else {
                row.put("verdict", "required");
                row.put("message", prompt.getSpecialFormQuestionText("requiredMsg"));
            }
            row.put("after", text(model.getQuestionPrompt().getAnswerValue()));
        }

        // What Collect does on "Save and finalise": end-of-form preloads, then every question
        // checked again; a failure names the question the worker is sent back to.
        fd.postProcessInstance();
        ValidateOutcome outcome = fd.validate(true);
        if (outcome != null) {
            ObjectNode failed = result.putObject("invalid");
            FormEntryPrompt prompt = new FormEntryPrompt(fd, outcome.failedPrompt);
            boolean constraint = outcome.outcome == FormEntryController.ANSWER_CONSTRAINT_VIOLATED;
            failed.put("path", path(outcome.failedPrompt.getReference()));
            failed.put("outcome", constraint ? "constraint" : "required");
            failed.put("message", constraint ? prompt.getConstraintText()
                    : prompt.getSpecialFormQuestionText("requiredMsg"));
        }
        byte[] xml = new XFormSerializingVisitor().serializeInstance(fd.getInstance());
        result.put("instance", new String(xml, StandardCharsets.UTF_8));
        return result;
    }

    /** The answer a worker gives by tapping or typing: choices must be ones the engine offers. */
    static IAnswerData answer(FormEntryPrompt prompt, String wanted) {
        int control = prompt.getControlType();
        if (control == Constants.CONTROL_SELECT_ONE) {
            return new SelectOneData(offered(prompt, wanted));
        }
        if (control == Constants.CONTROL_SELECT_MULTI) {
            List<Selection> picked = new ArrayList<>();
            for (String value : wanted.trim().split("\\s+")) {
                if (!value.isEmpty()) {
                    picked.add(offered(prompt, value));
                }
            }
            return new SelectMultiData(picked);
        }
        if (control == Constants.CONTROL_IMAGE_CHOOSE || control == Constants.CONTROL_FILE_CAPTURE) {
            return new StringData(wanted);  // Collect stores the attached file's name
        }
        return AnswerDataFactory.templateByDataType(prompt.getDataType()).cast(new UncastData(wanted));
    }

    static Selection offered(FormEntryPrompt prompt, String value) {
        List<SelectChoice> choices = prompt.getSelectChoices();
        if (choices != null) {
            for (SelectChoice choice : choices) {
                if (choice.getValue().equals(value)) {
                    return choice.selection();
                }
            }
        }
        throw new IllegalArgumentException("not offered: " + value);
    }

    static String text(IAnswerData data) {
        return data == null ? null : data.uncast().getString();
    }

    /** /data/page/members[2]/name: 1-based positions on repeated nodes only. */
    static String path(TreeReference ref) {
        StringBuilder generic = new StringBuilder();
        StringBuilder s = new StringBuilder();
        for (int i = 0; i < ref.size(); i++) {
            generic.append('/').append(ref.getName(i));
            s.append('/').append(ref.getName(i));
            if (REPEATS.contains(generic.toString())) {
                s.append('[').append(Math.max(ref.getMultiplicity(i), 0) + 1).append(']');
            }
        }
        return s.toString();
    }

    /** The repeat's own path (no position), as the script names how many to add. */
    static String generic(TreeReference ref) {
        StringBuilder s = new StringBuilder();
        for (int i = 0; i < ref.size(); i++) {
            s.append('/').append(ref.getName(i));
        }
        return s.toString();
    }

    static final Set<String> REPEATS = new HashSet<>();

    static void findRepeats(IFormElement element) {
        if (element instanceof GroupDef && ((GroupDef) element).getRepeat()) {
            REPEATS.add(generic((TreeReference) element.getBind().getReference()));
        }
        if (element.getChildren() != null) {
            for (IFormElement child : element.getChildren()) {
                findRepeats(child);
            }
        }
    }

    /** jr://file/ and jr://file-csv/ resolve to the form's media folder, as Collect does. */
    static final class MediaFolder implements ReferenceFactory {
        private final File folder;

        MediaFolder(File folder) {
            this.folder = folder;
        }

        public boolean derives(String uri) {
            return uri.startsWith("jr://file/") || uri.startsWith("jr://file-csv/");
        }

        public Reference derive(String uri) {
            File file = new File(folder, uri.substring(uri.indexOf("/", "jr://".length()) + 1));
            return new Reference() {
                public boolean doesBinaryExist() { return file.exists(); }
                public InputStream getStream() throws java.io.IOException { return new FileInputStream(file); }
                public String getURI() { return uri; }
                public String getLocalURI() { return file.getAbsolutePath(); }
                public boolean isReadOnly() { return true; }
                public OutputStream getOutputStream() { throw new UnsupportedOperationException(); }
                public void remove() { throw new UnsupportedOperationException(); }
                public Reference[] probeAlternativeReferences() { return new Reference[0]; }
            };
        }

        public Reference derive(String uri, String context) {
            return derive(uri);
        }
    }

    /** deviceid and username, which Collect takes from its settings. */
    static final class DeviceProperties implements IPropertyManager {
        private final Map<String, String> values;

        DeviceProperties(Map<String, String> values) {
            this.values = values;
        }

        public List<String> getProperty(String name) {
            String value = values.get(name);
            return value == null ? null : List.of(value);
        }
        public void setProperty(String name, String value) { values.put(name, value); }
        public void setProperty(String name, List<String> value) { values.put(name, value.get(0)); }
        public String getSingularProperty(String name) { return values.get(name); }
        public void addRules(IPropertyRules rules) { }
        public List<IPropertyRules> getRules() { return List.of(); }
    }
}
