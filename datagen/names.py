"""Name, place and code pools for synthetic schools (plausible for an English school roll).

Each heritage pool pairs first names and surnames with the DfE ethnicity codes, first
languages (DfE language codes) and religions that tend to go with them, so a generated pupil
is internally consistent. Weights are rough shares of an English school roll, not statistics.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Heritage:
    name: str
    weight: float
    ethnicities: tuple[tuple[str, float], ...]
    languages: tuple[tuple[str, float], ...]  # first language codes (ENG = English)
    religions: tuple[tuple[str, float], ...]
    girls: tuple[str, ...]
    boys: tuple[str, ...]
    surnames: tuple[str, ...]


BRITISH = Heritage(
    name="british",
    weight=0.68,
    ethnicities=(("WBRI", 0.93), ("WIRI", 0.02), ("WOTH", 0.03), ("WIRT", 0.005),
                 ("REFU", 0.015)),
    languages=(("ENG", 0.995), ("ENB", 0.005)),
    religions=(("No religion", 0.52), ("Christian", 0.42), ("Refused", 0.04), ("Other", 0.02)),
    girls=("Olivia", "Amelia", "Isla", "Ava", "Ivy", "Freya", "Lily", "Florence", "Mia",
           "Willow", "Rosie", "Sophia", "Isabella", "Grace", "Daisy", "Sienna", "Poppy",
           "Elsie", "Emily", "Ella", "Evelyn", "Phoebe", "Sofia", "Evie", "Charlotte",
           "Harper", "Matilda", "Ruby", "Millie", "Alice", "Ellie", "Jessica", "Chloe",
           "Hannah", "Lucy", "Holly", "Megan", "Katie", "Erin", "Niamh", "Maisie", "Imogen",
           "Scarlett", "Eleanor", "Bethany", "Abigail", "Lola", "Harriet", "Martha", "Esme"),
    boys=("Noah", "Oliver", "George", "Arthur", "Leo", "Harry", "Oscar", "Archie", "Henry",
          "Theodore", "Freddie", "Jack", "Charlie", "Theo", "Alfie", "Jacob", "Thomas",
          "Finley", "Arlo", "William", "Lucas", "Roman", "Tommy", "Isaac", "Teddy", "Alexander",
          "Luca", "Edward", "James", "Joshua", "Albie", "Elijah", "Max", "Mason", "Reuben",
          "Ethan", "Samuel", "Daniel", "Joseph", "Harrison", "Louie", "Dylan", "Callum",
          "Ryan", "Jake", "Connor", "Lewis", "Owen", "Matthew", "Toby"),
    surnames=("Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies",
              "Robinson", "Wright", "Thompson", "Evans", "Walker", "White", "Roberts", "Green",
              "Hall", "Wood", "Jackson", "Clarke", "Harris", "Lewis", "Martin", "Cooper",
              "King", "Baker", "Turner", "Hill", "Ward", "Morris", "Moore", "Clark", "Lee",
              "Harrison", "Scott", "Young", "Morgan", "Hughes", "Edwards", "Allen", "Carter",
              "Mitchell", "Shaw", "Holmes", "Bailey", "Marshall", "Greenwood", "Atkinson",
              "Fletcher", "Barker", "Dixon", "Sutcliffe", "Whitaker", "Ellis", "Hudson",
              "Lawson", "Pickering", "Brooke", "Hartley", "Hargreaves", "Murphy", "Kelly",
              "O'Brien", "O'Connor", "Ryan", "McDonald", "Campbell", "Stewart", "Fraser",
              "Price", "Rees", "Powell", "Griffiths", "Lloyd", "Bell", "Chapman", "Webb",
              "Kaur-Smith", "Ashworth", "Haigh", "Booth", "Senior", "Firth", "Crowther"),
)

SOUTH_ASIAN = Heritage(
    name="south_asian",
    weight=0.12,
    ethnicities=(("APKN", 0.45), ("AIND", 0.3), ("ABAN", 0.15), ("AOTH", 0.1)),
    languages=(("ENG", 0.45), ("URD", 0.18), ("PNJ", 0.14), ("BNG", 0.1), ("GUJ", 0.08),
               ("TAM", 0.05)),
    religions=(("Muslim", 0.62), ("Hindu", 0.18), ("Sikh", 0.14), ("No religion", 0.04),
               ("Christian", 0.02)),
    girls=("Aisha", "Fatima", "Maryam", "Zara", "Amira", "Hafsa", "Inaya", "Anaya", "Hana",
           "Sana", "Aleena", "Ayesha", "Khadija", "Priya", "Simran", "Anika", "Riya",
           "Jasleen", "Mehreen", "Noor", "Safa", "Zainab", "Alisha", "Kiran", "Navneet"),
    boys=("Muhammad", "Mohammed", "Yusuf", "Ibrahim", "Ayaan", "Zayn", "Hamza", "Ali",
          "Adam", "Rayyan", "Arjun", "Rohan", "Aarav", "Harjot", "Kabir", "Imran", "Bilal",
          "Hassan", "Umar", "Rehan", "Dev", "Jaskaran", "Arman", "Faisal", "Idris"),
    surnames=("Khan", "Ahmed", "Hussain", "Ali", "Patel", "Begum", "Rahman", "Shah", "Iqbal",
              "Akhtar", "Mahmood", "Singh", "Kaur", "Sharma", "Chowdhury", "Islam", "Mistry",
              "Parmar", "Bibi", "Aslam", "Javed", "Sandhu", "Gill", "Chauhan", "Miah", "Uddin",
              "Nawaz", "Qureshi", "Malik", "Rashid"),
)

AFRICAN_CARIBBEAN = Heritage(
    name="african_caribbean",
    weight=0.07,
    ethnicities=(("BAFR", 0.55), ("BCRB", 0.25), ("BOTH", 0.1), ("MWBC", 0.06), ("MWBA", 0.04)),
    languages=(("ENG", 0.7), ("YOR", 0.08), ("SOM", 0.1), ("IGB", 0.05), ("TWI", 0.04),
               ("FRN", 0.03)),
    religions=(("Christian", 0.6), ("Muslim", 0.25), ("No religion", 0.12), ("Other", 0.03)),
    girls=("Amara", "Zuri", "Imani", "Chioma", "Adaeze", "Nia", "Abena", "Hodan", "Ifeoma",
           "Kemi", "Tiana", "Jada", "Nadia", "Ayan", "Blessing", "Precious", "Deborah"),
    boys=("David", "Daniel", "Emmanuel", "Samuel", "Kwame", "Tobi", "Chidi", "Abdi", "Omar",
          "Kofi", "Tyrese", "Jayden", "Malachi", "Ezekiel", "Joel", "Elijah", "Mustafa"),
    surnames=("Okafor", "Adeyemi", "Mensah", "Osei", "Okonkwo", "Adebayo", "Mohamed", "Hassan",
              "Farah", "Campbell", "Thomas", "Francis", "Grant", "Boateng", "Asante", "Nwosu",
              "Eze", "Balogun", "Warsame", "Reid", "Clarke", "Bennett"),
)

EAST_EUROPEAN = Heritage(
    name="east_european",
    weight=0.08,
    ethnicities=(("WOTH", 0.75), ("WROM", 0.1), ("WIRT", 0.02), ("OOTH", 0.13)),
    languages=(("POL", 0.45), ("RMN", 0.2), ("LIT", 0.1), ("ENG", 0.15), ("BGR", 0.05),
               ("SLO", 0.05)),
    religions=(("Christian", 0.7), ("No religion", 0.25), ("Other", 0.05)),
    girls=("Zuzanna", "Julia", "Zofia", "Hanna", "Maja", "Lena", "Alicja", "Oliwia", "Ioana",
           "Maria", "Andreea", "Emilija", "Gabriela", "Natalia", "Amelia", "Wiktoria"),
    boys=("Jakub", "Antoni", "Szymon", "Filip", "Kacper", "Mateusz", "Stefan", "Andrei",
          "Matas", "Lukas", "Aleksander", "Mikolaj", "Tomasz", "Bartosz", "Nikola", "Denis"),
    surnames=("Nowak", "Kowalski", "Wisniewski", "Wojcik", "Kaminski", "Lewandowski",
              "Zielinski", "Popescu", "Ionescu", "Kazlauskas", "Petrov", "Dimitrov", "Horvat",
              "Mazur", "Krawczyk", "Pavlov", "Popa", "Jankowski"),
)

EAST_ASIAN_OTHER = Heritage(
    name="east_asian_other",
    weight=0.05,
    ethnicities=(("CHNE", 0.35), ("AOTH", 0.2), ("OOTH", 0.25), ("MOTH", 0.2)),
    languages=(("ENG", 0.5), ("CHI", 0.15), ("ARA", 0.15), ("TUR", 0.1), ("PRS", 0.1)),
    religions=(("No religion", 0.45), ("Muslim", 0.3), ("Buddhist", 0.15), ("Christian", 0.1)),
    girls=("Mei", "Lin", "Yasmin", "Leila", "Elif", "Mariam", "Sara", "Jasmine", "Kiara",
           "Layla", "Yuki", "Ela"),
    boys=("Wei", "Jun", "Kai", "Omar", "Mehmet", "Karim", "Ahmad", "Ryan", "Ethan", "Yusuf",
          "Emir", "Hao"),
    surnames=("Chen", "Wang", "Li", "Zhang", "Wong", "Nguyen", "Yilmaz", "Demir", "Haddad",
              "Rahimi", "Karimi", "Tran", "Liu", "Abdullah"),
)

HERITAGES = (BRITISH, SOUTH_ASIAN, AFRICAN_CARIBBEAN, EAST_EUROPEAN, EAST_ASIAN_OTHER)

ADULT_WOMEN = ("Sarah", "Emma", "Rachel", "Laura", "Nicola", "Claire", "Helen", "Kelly",
               "Gemma", "Joanne", "Rebecca", "Amy", "Victoria", "Lisa", "Michelle", "Louise",
               "Samantha", "Natalie", "Stacey", "Donna", "Jennifer", "Catherine")
ADULT_MEN = ("David", "Paul", "Mark", "Andrew", "Richard", "Stephen", "Christopher", "Daniel",
             "James", "Michael", "Matthew", "Lee", "Craig", "Gareth", "Simon", "Neil",
             "Jonathan", "Wayne", "Darren", "Ian", "Martin", "Stuart")

STREETS = ("Station Road", "Church Lane", "Park Avenue", "Victoria Street", "Mill Lane",
           "The Green", "Manor Road", "Highfield Road", "Kings Road", "Queensway",
           "Westfield Close", "Chapel Street", "Grange Road", "Beech Grove", "Oakwood Drive",
           "Moorland View", "Albert Terrace", "Springfield Avenue", "Meadow Way",
           "Sycamore Close", "Cross Street", "New Road", "Ash Grove", "Hawthorn Crescent")

# (town, county, postcode area, Ofcom drama-range landline prefix)
TOWNS = (
    ("Leeds", "West Yorkshire", "LS", "0113 496 0"),
    ("Manchester", "Greater Manchester", "M", "0161 496 0"),
    ("Sheffield", "South Yorkshire", "S", "0114 496 0"),
    ("Bristol", "Bristol", "BS", "0117 496 0"),
    ("Nottingham", "Nottinghamshire", "NG", "0115 496 0"),
)

# CBDS contact relationship codes used in CTF files, and the words the JSON feed uses.
RELATIONSHIPS = {
    "PAM": "Mother",
    "PAF": "Father",
    "STM": "Step-mother",
    "STF": "Step-father",
    "FOM": "Foster mother",
    "FOF": "Foster father",
    "CAR": "Carer",
    "REL": "Other relative",
    "FAM": "Other family member",
    "SWR": "Social worker",
    "DOC": "Doctor",
    "CHM": "Childminder",
    "OTH": "Other contact",
}

MEDICAL_CONDITIONS = ("Asthma", "Eczema", "Nut allergy", "Epilepsy", "Type 1 diabetes",
                      "Hay fever", "Coeliac disease", "Migraine", "Sickle cell disease",
                      "Hearing impairment", "Lactose intolerance")

STAFF_TITLES_F = ("Mrs", "Miss", "Ms", "Dr")
STAFF_TITLES_M = ("Mr", "Mr", "Mr", "Dr")
SUBJECTS = ("English", "Maths", "Science", "History", "Geography", "French", "Spanish",
            "Art", "Music", "PE", "Computing", "Design and Technology", "RE", "Drama")
SUPPORT_ROLES = ("Teaching Assistant", "Learning Mentor", "Attendance Officer",
                 "Pastoral Manager", "Office Manager", "Site Manager", "Cover Supervisor",
                 "SENCO Assistant", "Receptionist", "Family Liaison Officer")
